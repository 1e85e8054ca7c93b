import ArgumentParser

/// `sealpost contacts`: the v3 contacts, their trust.
struct ContactsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "contacts", abstract: "List the v3 contacts: name, id, verified or not, key changed or not.")

    @OptionGroup var options: ClientOptions
    @OptionGroup var secure: SecureClientOptions
    @Flag(name: .long, help: "Print one JSON array of {\"id\", \"name\", \"verified\", \"key_changed\"}.") var json = false

    func run() async throws {
        try await SecureCLI.run {
            let client = try await SecureCLI.requireSecure(options, secure)
            let contacts = try await client.contacts()
            if json {
                ClientRunner.say("[" + contacts.map(JSONText.contact).joined(separator: ", ") + "]")
                return
            }
            for contact in contacts {
                var line = "\(contact.name ?? "-") \(contact.account) \(contact.verified ? "verified" : "unverified")"
                if contact.changedIdentity != nil { line += " KEY CHANGED" }
                ClientRunner.say(line)
            }
        }
    }
}
