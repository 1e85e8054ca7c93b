import Application
import Foundation

/// The original client's interactive numbered menu, same numbers and order:
/// 1 register, 2 clients list, 3 public key, 4 waiting messages, 5 send text,
/// 50 send file, 51 request key, 52 send key, 0 exit.
///
/// The wording follows the MessageU client the seed is modelled on; the seed's exact
/// strings are not in the recorded material, so they may differ in detail.
struct ClientMenu {
    let services: ClientServices

    static let banner = "MessageU client at your service."
    static let options = """
        1) Register
        2) Request for clients list
        3) Request for public key
        4) Request for waiting messages
        5) Send a text message
        50) Send a file
        51) Send a request for symmetric key
        52) Send your symmetric key
        0) Exit client
        """

    /// Runs until 0 or the end of input. A failed choice prints its reason and the menu
    /// comes back, as in the original.
    func run() async {
        while true {
            write("\n\(Self.banner)\n\n\(Self.options)\n?\n")
            guard let line = readLine() else { return }
            let choice = line.trimmingCharacters(in: .whitespaces)
            if choice == "0" { return }
            do {
                try await perform(choice)
            } catch {
                write("Error: \(error)\n")
            }
        }
    }

    private func perform(_ choice: String) async throws {
        switch choice {
        case "1":
            let name = try ask("Enter your name: ")
            let identity = try await RegisterIdentity(services).run(name: name)
            write("Registered successfully. Your id: \(identity.id.hex)\n")
        case "2":
            let clients = try await ListOtherClients(services).run()
            write(clients.isEmpty ? "No other clients are registered.\n" : "Clients list:\n")
            for client in clients { write("\(client.name)\n") }
        case "3":
            let name = try ask("Enter the client's name: ")
            _ = try await FetchPublicKey(services).run(name: name)
            write("Public key of \(name) received.\n")
        case "4":
            let result = try await ReadInbox(services).run()
            if result.entries.isEmpty { write("No waiting messages.\n") }
            for entry in result.entries { write(InboxPrinter.text(entry) + "\n") }
            if let failure = result.failure { throw failure }
        case "5":
            let name = try ask("Enter the client's name: ")
            let text = try ask("Enter the message: ")
            _ = try await SendText(services).run(name: name, text: text)
            write("Message sent.\n")
        case "50":
            let name = try ask("Enter the client's name: ")
            let path = try ask("Enter the file path: ")
            _ = try await SendFile(services).run(name: name, path: path, progress: TerminalProgress.makeIfTerminal())
            write("File sent.\n")
        case "51":
            let name = try ask("Enter the client's name: ")
            _ = try await RequestKey(services).run(name: name)
            write("Request for symmetric key sent.\n")
        case "52":
            let name = try ask("Enter the client's name: ")
            _ = try await SendKey(services).run(name: name)
            write("Symmetric key sent.\n")
        default:
            write("Invalid option \"\(choice)\": choose a number from the menu.\n")
        }
    }

    private func ask(_ prompt: String) throws -> String {
        write(prompt)
        guard let line = readLine() else { throw ClientError.invalidArgument("input ended") }
        return line.trimmingCharacters(in: .whitespaces)
    }

    private func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
