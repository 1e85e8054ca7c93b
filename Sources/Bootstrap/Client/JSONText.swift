import Application
import Domain

/// The client commands' `--json` output, written field by field so that the order is stable.
enum JSONText {
    /// A JSON string literal.
    static func string(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// `{"id": hex, "name": ...}`.
    static func client(id: ClientID, name: ClientName) -> String {
        "{\"id\": \(string(id.hex)), \"name\": \(string(name.value))}"
    }

    /// `[{"id": hex, "name": ...}, ...]`.
    static func clients(_ clients: [ClientSummary]) -> String {
        "[" + clients.map { client(id: $0.id, name: $0.name) }.joined(separator: ", ") + "]"
    }

    /// The inbox type names.
    static func typeName(_ type: UInt8) -> String {
        switch MessageKind(rawValue: type) {
        case .keyRequest: "key-request"
        case .symmetricKey: "key"
        case .text: "text"
        case .file: "file"
        case nil: "unknown-\(type)"
        }
    }

    /// `{"id": n, "from_id": hex, "from": name-or-null, "type": ..., "text"?, "path"?, "error"?}`.
    static func entry(_ entry: InboxEntry) -> String {
        var fields = [
            "\"id\": \(entry.id.rawValue)",
            "\"from_id\": \(string(entry.senderID.hex))",
            "\"from\": \(entry.senderName.map { string($0.value) } ?? "null")",
            "\"type\": \(string(typeName(entry.type)))",
        ]
        if let text = entry.text { fields.append("\"text\": \(string(text))") }
        if let path = entry.path { fields.append("\"path\": \(string(path))") }
        if let error = entry.error { fields.append("\"error\": \(string(error))") }
        return "{" + fields.joined(separator: ", ") + "}"
    }
}
