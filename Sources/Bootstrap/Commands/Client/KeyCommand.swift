import Application
import ArgumentParser

/// `sealpost key NAME`: fetches and stores NAME's public key.
struct KeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "key", abstract: "Fetch and store NAME's public key.")

    @OptionGroup var options: ClientOptions
    @OptionGroup var secure: SecureClientOptions
    @Argument(help: "The other client's name.") var name: String

    func run() async throws {
        try await ClientRunner.run {
            if SecureCLI.isSecure(options) { throw SecureClientFailure("on a v3 home the sessions fetch keys by themselves: see `sealpost safety-number NAME` to compare identity keys") }
            let (contact, key) = try await FetchPublicKey(ClientEnvironment.resolve(options).services()).run(name: name)
            let hex = key.bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
            ClientRunner.say("public key of \(name) (\(contact.id.hex)) stored: \(hex)")
        }
    }
}
