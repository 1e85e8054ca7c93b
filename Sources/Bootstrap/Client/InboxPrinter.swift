import Application

/// The inbox in words, as the original client prints waiting messages.
enum InboxPrinter {
    static func text(_ entry: InboxEntry) -> String {
        let from = entry.senderName?.value ?? entry.senderID.hex
        let content: String
        if let error = entry.error {
            content = "can't decrypt message: \(error)"
        } else {
            switch entry.kind {
            case .keyRequest: content = "Request for symmetric key"
            case .symmetricKey: content = "symmetric key received"
            case .text: content = entry.text ?? ""
            case .file: content = "FILE: \(entry.path ?? "")"
            case nil: content = "message of unknown type \(entry.type)"
            }
        }
        return "From: \(from)\nContent:\n\(content)\n-----<EOM>-----\n"
    }
}
