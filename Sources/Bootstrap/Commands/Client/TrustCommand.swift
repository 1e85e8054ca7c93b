import ArgumentParser

/// `sealpost trust NAME`: accepts NAME's changed identity key.
struct TrustCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trust",
        abstract: "Accept NAME's changed identity key (after comparing the new safety number).",
        discussion: "A verified contact whose key changed needs --i-have-verified-the-new-number, or `sealpost verify NAME NUMBER` with the new number.")

    @OptionGroup var options: ClientOptions
    @OptionGroup var secure: SecureClientOptions
    @Flag(name: .customLong("i-have-verified-the-new-number"), help: "Trust a verified contact's new key, verified again.") var verifiedNewNumber = false
    @Argument(help: "The contact's name.") var name: String

    func run() async throws {
        try await SecureCLI.run {
            let client = try await SecureCLI.requireSecure(options, secure)
            let contact = try await client.trust(name, verifiedNewNumber: verifiedNewNumber)
            ClientRunner.say("the new key of \(name) is trusted\(contact.verified ? " and verified" : " (not verified)"); safety number \(try client.safetyNumber(with: contact.account, identity: contact.identity))")
        }
    }
}
