import ArgumentParser

/// `sealpost verify NAME NUMBER`: marks NAME verified when NUMBER is its safety number.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Mark NAME verified when NUMBER is the safety number you compared with it (spaces ignored).")

    @OptionGroup var options: ClientOptions
    @OptionGroup var secure: SecureClientOptions
    @Argument(help: "The contact's name.") var name: String
    @Argument(help: "The safety number, 60 digits (groups may be separate arguments).") var number: [String]

    func run() async throws {
        try await SecureCLI.run {
            let client = try await SecureCLI.requireSecure(options, secure)
            _ = try await client.verify(name, number: number.joined())
            ClientRunner.say("\(name) is verified")
        }
    }
}
