import Application
import Domain
import Foundation

/// The original client's interactive numbered menu, word for word: the same start-up
/// lines, menu, prompts, confirmations, list and inbox layout, error texts, and word-wise
/// input (`../shared/vectors/original_menu_transcript.md` records them). Options: 1 register,
/// 2 clients list, 3 public key, 4 waiting messages, 5 text, 50 file, 51 request key,
/// 52 send key, 0 exit.
///
/// The words are the original's; these of its defects are not kept:
/// - at the end of input the menu exits (status 0) instead of looping forever;
/// - keys are kept in the client store, so a restart loses none;
/// - a key from a sender missing from the local list is stored, not a reason to drop the
///   whole fetch;
/// - received files go to `<home>/downloads` under the sender's name and message id, not
///   to `$TMPDIR` under a random name.
///
/// Like the original, per-client commands accept only names in the local list, which
/// option 2 fills in this process.
final class ClientMenu {
    static let menu = """
        ********************************
        MessageU client at your service.

        1) Register
        2) Request for clients list
        3) Request for public key
        4) Request for waiting messages
        5) Send a text message
        50) Send a file message
        51) Send a request for symmetric key
        52) Send your symmetric key
        0) Exit client
        ? 
        """
    static let generalError = "Got general error response from server. Check server logs for details"

    private let services: ClientServices
    private let server: ServerAddress
    private let input: MenuInput
    /// The clients option 2 listed in this process, in the server's order.
    private var local: [ClientSummary] = []

    init(services: ClientServices, server: ServerAddress, input: MenuInput = MenuInput()) {
        self.services = services
        self.server = server
        self.input = input
    }

    /// A failure that the menu prints as `error: <text>`.
    private struct Failure: Error { let text: String }

    /// Runs until 0 or the end of input.
    func run() async {
        await banner()
        while true {
            write(Self.menu)
            guard input.hasWord() else { return }
            let word = input.word()
            guard let choice = MenuInput.integerPrefix(word) else {
                write("error: stoi\n")
                continue
            }
            if choice == 0 { return }
            do {
                try await perform(choice)
            } catch let failure as Failure {
                write("error: \(failure.text)\n")
            } catch {
                write("error: \(Self.words(error))\n")
            }
        }
    }

    private func banner() async {
        write("Server configuration: \(server.host):\(server.port)\n")
        do {
            if let me = try await services.identity.load() {
                let key = try services.crypto.publicKey(for: me.privateKey)
                write("Client ID: \(me.id.hex.uppercased())\nClient name: \(me.name.value)\nClient Public Key: \(Self.hex(key.bytes))\n")
                return
            }
        } catch {
            write("ERR: Error while reading client metadata file: \(error)\n")
        }
        write("* NOT REGISTERED *\n")
    }

    private func perform(_ choice: Int32) async throws {
        let me = try? await services.identity.load()
        guard let me else {
            if choice == 1 { return try await register() }
            write("ERROR: Client not registered\n")
            return
        }
        switch choice {
        case 1:
            write("ERROR: Client already registered\n")
        case 2:
            local = try await ListOtherClients(services).run()
            try await printLocalList()
        case 3:
            let client = try await chooseClient()
            if try await services.state.contact(withID: client.id)?.publicKey != nil {
                throw Failure(text: "client public key already loaded")
            }
            _ = try await FetchPublicKey(services).fetch(client.id, me: me)
            write("Public key loaded\n")
        case 4:
            try await readInbox()
        case 5:
            let client = try await chooseClient()
            write("Enter message: ")
            let text = input.line()
            try await requireSymmetricKey(client)
            _ = try await SendText(services).run(name: client.name.value, text: text)
            write("Message sent\n")
        case 50:
            let client = try await chooseClient()
            write("Enter file name: ")
            let path = input.line()
            guard FileManager.default.fileExists(atPath: path) else { throw Failure(text: "File not found") }
            try await requireSymmetricKey(client)
            _ = try await SendFile(services).run(name: client.name.value, path: path, progress: TerminalProgress.makeIfTerminal())
            write("File sent\n")
        case 51:
            let client = try await chooseClient()
            try await requirePublicKey(client)
            if try await !services.state.pairKeys(for: client.id).isEmpty {
                throw Failure(text: "client symmetric key already loaded")
            }
            _ = try await RequestKey(services).run(name: client.name.value)
            write("Request sent\n")
        case 52:
            let client = try await chooseClient()
            try await requirePublicKey(client)
            _ = try await SendKey(services).send(to: client.id, me: me)
            write("Key sent\n")
        default:
            write("Error: invalid option selected: \(choice)")
        }
    }

    private func register() async throws {
        write("Enter client name: ")
        let name = input.word()
        guard name.utf8.count <= ClientName.maximumByteCount else { throw Failure(text: "Client name overflow") }
        do {
            let identity = try await RegisterIdentity(services).run(name: name)
            write("* Registration Successful\nClient ID: \(identity.id.hex.uppercased())\n")
        } catch ClientError.server, ClientError.invalidArgument {
            // The original sends any name and reports the server's refusal; we refuse
            // names the server would refuse before sending, with the same words.
            throw Failure(text: Self.generalError)
        }
    }

    /// Prints the local list, asks for a name, and returns the listed client of that name.
    private func chooseClient() async throws -> ClientSummary {
        try await printLocalList()
        write("Enter client name: ")
        let name = input.word()
        guard let client = local.first(where: { $0.name.value == name }) else {
            throw Failure(text: "client does not exist")
        }
        return client
    }

    private func printLocalList() async throws {
        var text = "* Clients:\n"
        for client in local {
            let publicKey = try await services.state.contact(withID: client.id)?.publicKey != nil
            let symmetricKey = try await !services.state.pairKeys(for: client.id).isEmpty
            text += "\tID:\(client.id.hex.uppercased()), Name:\(client.name.value), PublicKey:\(publicKey ? "+" : "-"), SymmetricKey:\(symmetricKey ? "+" : "-")\n"
        }
        write(text)
    }

    private func requirePublicKey(_ client: ClientSummary) async throws {
        if try await services.state.contact(withID: client.id)?.publicKey == nil {
            throw Failure(text: "client public key not loaded. Request it first")
        }
    }

    private func requireSymmetricKey(_ client: ClientSummary) async throws {
        if try await services.state.pairKeys(for: client.id).isEmpty {
            throw Failure(text: "client symmetric key not loaded. First ask for key")
        }
    }

    private func readInbox() async throws {
        let result = try await ReadInbox(services).run(autoReply: false, progress: TerminalProgress.makeIfTerminal())
        if result.entries.isEmpty && result.failure == nil {
            write("---- INBOX EMPTY -----\n")
        }
        for entry in result.entries {
            var text = ""
            let sender: String
            if let client = local.first(where: { $0.id == entry.senderID }) {
                sender = client.name.value
            } else {
                text += "ERR: Got unknown message client id: \(entry.senderID.hex.uppercased())\n"
                sender = "--UNKNOWN--"
            }
            let content = Self.content(entry)
            text += "From: \(sender)\nMsg ID: \(entry.id)\nContent:\n\(content.isEmpty ? "" : content + "\n")----<EOM>-----\n"
            write(text)
        }
        if let failure = result.failure { throw failure }
    }

    /// A message's content line(s), in the original's words.
    static func content(_ entry: InboxEntry) -> String {
        switch entry.kind {
        case nil:
            return "Message of unknown type \(entry.type)"
        case .keyRequest:
            return entry.error.map { "Request for symmetric key (\($0))" } ?? "Request for symmetric key"
        case .symmetricKey:
            if let error = entry.error { return "Symmetric key cannot be read: \(error)" }
            return entry.keyIgnored ? "Symmetric key received, but ignored (already exists for client)" : "Symmetric key received"
        case .text:
            if entry.missingKey { return "Text message cannot be decrypted. Key is missing" }
            if let error = entry.error { return "Text message cannot be decrypted: \(error)" }
            return entry.text ?? ""
        case .file:
            if entry.missingKey { return "File message cannot be decrypted. Key is missing" }
            if let error = entry.error { return "File message cannot be decrypted: \(error)" }
            return "FILE: \(entry.path ?? "")"
        }
    }

    /// An error in the original's words where it has them.
    static func words(_ error: any Error) -> String {
        if case ClientError.cannotConnect(_, _, let reason) = error {
            return "connect: " + reason.prefix(1).uppercased() + reason.dropFirst()
        }
        if case ClientError.server = error { return generalError }
        return "\(error)"
    }

    private static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789ABCDEF")
        var out = ""
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return out
    }

    private func write(_ text: String) { StandardStreams.out(text) }
}
