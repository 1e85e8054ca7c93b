import Adapters
import Application
import Domain
import Foundation

/// What the client commands share on a v3 home: finding the home, opening the client, and
/// putting failures in words.
enum SecureCLI {
    /// The home the options name.
    static func home(_ options: ClientOptions) -> String {
        ClientEnvironment.resolveHome(options.home, environment: ProcessInfo.processInfo.environment,
                                      currentDirectory: FileManager.default.currentDirectoryPath)
    }

    /// Whether the options' home is a v3 home (the commands then speak v3).
    static func isSecure(_ options: ClientOptions) -> Bool {
        SecureClient.isSecureHome(home(options))
    }

    /// Opens the home's v3 client.
    static func client(_ options: ClientOptions, _ secure: SecureClientOptions) async throws -> SecureClient {
        let home = home(options)
        return try await SecureClient.open(home: home, server: options.server, verification: secure.verification(home: home))
    }

    /// Opens the home's v3 client, or fails in words when the home is not a v3 one.
    static func requireSecure(_ options: ClientOptions, _ secure: SecureClientOptions) async throws -> SecureClient {
        guard isSecure(options) else {
            throw SecureClientFailure("this is not a v3 home (\(home(options))): register with `sealpost register NAME` first")
        }
        return try await client(options, secure)
    }

    /// Runs a v3 command body: any failure becomes one line on stderr and exit status 1.
    static func run(_ body: () async throws -> Void) async throws {
        try await ClientRunner.run {
            do {
                try await body()
            } catch let error as AccountServerError {
                throw SecureClientFailure(SecureClient.words(error))
            } catch let error as EndToEndError {
                throw SecureClientFailure(error.description)
            }
        }
    }

    /// A receipt in words (stdout for messages, stderr for the rest) or as one JSON line.
    static func print(_ receipt: SecureReceipt, json: Bool) {
        if case .alreadySeen = receipt { return }
        if json {
            ClientRunner.say(JSONText.receipt(receipt))
            return
        }
        switch receipt {
        case .message(_, let from, let name, _, let content):
            let text: String = switch content {
            case .text(let text): text
            case .attachment(let pointer): "FILE: \(pointer.fileName) (not downloaded)"
            case .unsupported(let type, _): "message of unknown type \(type)"
            }
            ClientRunner.say("From: \(name ?? from.description)\nContent:\n\(text)\n-----<EOM>-----\n")
        case .file(_, let from, let name, _, let fileName, let path, let size):
            ClientRunner.say("From: \(name ?? from.description)\nFILE: \(fileName) (\(size) bytes) saved to \(path)\n-----<EOM>-----\n")
        case .fileFailed(let id, let from, let name, let reason):
            StandardStreams.error("sealpost: the file in message \(id) from \(name ?? from.description) was not saved: \(reason); it stays on the server and comes again\n")
        case .fileRejected(let id, let from, let name, _, let fileName, let reason):
            StandardStreams.error("sealpost: the file \(fileName) in message \(id) from \(name ?? from.description) was given up: \(reason); it stays in the history as failed\n")
        case .alreadySeen:
            break
        case .duplicate(let id, let from, let name):
            StandardStreams.error("sealpost: a duplicate of a message already received from \(name ?? from.description) (message \(id)): dropped\n")
        case .keyChanged(let id, let from, let name):
            let who = name ?? from.description
            StandardStreams.error("sealpost: key changed: message \(id) from \(who) is signed with a new identity key; it waits on the server. Compare safety numbers (`sealpost contacts`, `sealpost safety-number \(who)`), then `sealpost trust \(who)`\n")
        case .failed(let id, let from, let name, let reason):
            StandardStreams.error("sealpost: message \(id) from \(name ?? from.description) was dropped: \(reason)\n")
        }
    }
}

extension JSONText {
    /// One receipt: `{"event": "message"|"file"|"file-error"|"file-failed"|"duplicate"|"key-changed"|"error", "id": n, "from_id": hex, "from": name-or-null, ...}`.
    static func receipt(_ receipt: SecureReceipt) -> String {
        func head(_ event: String, _ id: UInt64, _ from: AccountID, _ name: String?) -> [String] {
            ["\"event\": \(string(event))", "\"id\": \(id)", "\"from_id\": \(string(from.description))", "\"from\": \(name.map(string) ?? "null")"]
        }
        var fields: [String]
        switch receipt {
        case .message(let id, let from, let name, let time, let content):
            fields = head("message", id, from, name) + ["\"time\": \(time)"]
            switch content {
            case .text(let text): fields += ["\"type\": \"text\"", "\"text\": \(string(text))"]
            case .attachment: fields += ["\"type\": \"file\""]
            case .unsupported(let type, _): fields += ["\"type\": \(string("unknown-\(type)"))"]
            }
        case .file(let id, let from, let name, let time, let fileName, let path, let size):
            fields = head("file", id, from, name) + ["\"time\": \(time)", "\"name\": \(string(fileName))", "\"path\": \(string(path))", "\"size\": \(size)"]
        case .fileFailed(let id, let from, let name, let reason):
            fields = head("file-error", id, from, name) + ["\"error\": \(string(reason))"]
        case .fileRejected(let id, let from, let name, let time, let fileName, let reason):
            fields = head("file-failed", id, from, name) + ["\"time\": \(time)", "\"name\": \(string(fileName))", "\"error\": \(string(reason))"]
        case .alreadySeen(let id):
            fields = ["\"event\": \"already-seen\"", "\"id\": \(id)"]
        case .duplicate(let id, let from, let name):
            fields = head("duplicate", id, from, name)
        case .keyChanged(let id, let from, let name):
            fields = head("key-changed", id, from, name)
        case .failed(let id, let from, let name, let reason):
            fields = head("error", id, from, name) + ["\"error\": \(string(reason))"]
        }
        return "{" + fields.joined(separator: ", ") + "}"
    }

    /// One contact: `{"id": hex, "name": ..., "verified": bool, "key_changed": bool}`.
    static func contact(_ contact: SecureContact) -> String {
        "{\"id\": \(string(contact.account.description)), \"name\": \(contact.name.map(string) ?? "null"), \"verified\": \(contact.verified), \"key_changed\": \(contact.changedIdentity != nil)}"
    }

    /// One history entry.
    static func history(_ entry: SecureHistoryEntry) -> String {
        var fields = ["\"direction\": \(string(entry.direction == .sent ? "sent" : "received"))", "\"time\": \(entry.time)",
                      "\"type\": \(string(entry.kind))", "\"text\": \(string(entry.body))"]
        if let id = entry.messageID { fields.append("\"id\": \(id)") }
        return "{" + fields.joined(separator: ", ") + "}"
    }
}
