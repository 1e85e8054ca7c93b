import Application
import Domain
import Foundation

/// The interactive numbered menu on a v3 home: the original menu's layout and prompts, with
/// the v3 actions. Options: 2 clients list, 4 waiting messages, 5 text, 6 safety number,
/// 7 verify, 8 trust a changed key, 9 contacts, 10 history, 0 exit. Registration is
/// `sealpost register NAME`; keys are exchanged by the sessions, so there is no key option.
final class SecureMenu {
    static let menu = """
        ********************************
        Sealpost client (protocol v3) at your service.

        2) Request for clients list
        4) Request for waiting messages
        5) Send a text message
        6) Show a safety number
        7) Verify a contact's safety number
        8) Trust a contact's changed key
        9) Contacts
        10) History with a contact
        0) Exit client
        ? 
        """

    private let client: SecureClient
    private let input: MenuInput

    init(client: SecureClient, input: MenuInput = MenuInput()) {
        self.client = client
        self.input = input
    }

    /// Runs until 0 or the end of input.
    func run() async {
        write("Server configuration: \(client.server.host):\(client.server.port)\n")
        write("Client ID: \(client.identity.account)\nClient name: \(client.identity.name)\n")
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
            } catch let error as AccountServerError {
                write("error: \(SecureClient.words(error))\n")
            } catch {
                write("error: \(error)\n")
            }
        }
    }

    private func perform(_ choice: Int32) async throws {
        switch choice {
        case 1:
            write("ERROR: Client already registered\n")
        case 2:
            var text = "* Clients:\n"
            for entry in try await client.directory() where entry.account != client.identity.account {
                text += "\(entry.name.value)\n"
            }
            write(text)
        case 4:
            try await client.receiveAll(follow: false) { receipt in SecureCLI.print(receipt, json: false) }
        case 5:
            let name = ask("Enter client name: ")
            write("Enter message: ")
            let text = input.line()
            _ = try await client.send(text: text, to: name)
            write("Message sent\n")
        case 6:
            let contact = try await client.contact(named: ask("Enter client name: "))
            write("Safety number: \(try client.safetyNumber(with: contact.account, identity: contact.identity))\n")
            if let changed = contact.changedIdentity {
                write("KEY CHANGED: new safety number: \(try client.safetyNumber(with: contact.account, identity: changed))\n")
            }
        case 7:
            let name = ask("Enter client name: ")
            write("Enter safety number: ")
            _ = try await client.verify(name, number: input.line())
            write("Verified\n")
        case 8:
            let name = ask("Enter client name: ")
            let contact = try await client.trust(name, verifiedNewNumber: false)
            write("New key trusted; safety number \(try client.safetyNumber(with: contact.account, identity: contact.identity))\n")
        case 9:
            var text = "* Contacts:\n"
            for contact in try await client.contacts() {
                text += "\(contact.name ?? "-") \(contact.verified ? "verified" : "unverified")\(contact.changedIdentity != nil ? " KEY CHANGED" : "")\n"
            }
            write(text)
        case 10:
            let name = ask("Enter client name: ")
            var text = ""
            for entry in try await client.history(with: name) {
                text += "\(entry.direction == .sent ? "To" : "From"): \(name)\nContent:\n\(entry.body)\n-----<EOM>-----\n"
            }
            write(text)
        default:
            write("error: unknown option \(choice)\n")
        }
    }

    private func ask(_ prompt: String) -> String {
        write(prompt)
        return input.word()
    }

    private func write(_ text: String) { StandardStreams.out(text) }
}
