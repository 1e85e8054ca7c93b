import ArgumentParser

/// `sealpost safety-number NAME`: the 60 digits to compare with NAME.
struct SafetyNumberCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "safety-number",
        abstract: "Print the safety number with NAME (60 digits in 12 groups of 5), to compare in person.")

    @OptionGroup var options: ClientOptions
    @OptionGroup var secure: SecureClientOptions
    @Flag(name: .long, help: "Print {\"name\", \"id\", \"safety_number\", \"verified\", \"new_safety_number\"?}.") var json = false
    @Argument(help: "The contact's name.") var name: String

    func run() async throws {
        try await SecureCLI.run {
            let client = try await SecureCLI.requireSecure(options, secure)
            let contact = try await client.contact(named: name)
            await client.close()
            let number = try client.safetyNumber(with: contact.account, identity: contact.identity)
            let changed = try contact.changedIdentity.map { try client.safetyNumber(with: contact.account, identity: $0) }
            if json {
                var fields = ["\"name\": \(JSONText.string(name))", "\"id\": \(JSONText.string(contact.account.description))",
                              "\"safety_number\": \(JSONText.string(number))", "\"verified\": \(contact.verified)"]
                if let changed { fields.append("\"new_safety_number\": \(JSONText.string(changed))") }
                ClientRunner.say("{" + fields.joined(separator: ", ") + "}")
            } else {
                ClientRunner.say(number)
                if let changed { ClientRunner.say("key changed: the new safety number is \(changed)") }
            }
        }
    }
}
