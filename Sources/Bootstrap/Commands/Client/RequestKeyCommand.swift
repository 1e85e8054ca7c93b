import Application
import ArgumentParser

/// `sealpost request-key NAME`: message type 1.
struct RequestKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "request-key", abstract: "Ask NAME for a symmetric key (message type 1).")

    @OptionGroup var options: ClientOptions
    @OptionGroup var secure: SecureClientOptions
    @Argument(help: "The other client's name.") var name: String

    func run() async throws {
        try await ClientRunner.run {
            if SecureCLI.isSecure(options) { throw SecureClientFailure("on a v3 home the sessions exchange keys by themselves: just `sealpost send NAME TEXT`") }
            let (_, message) = try await RequestKey(ClientEnvironment.resolve(options).services()).run(name: name)
            ClientRunner.say("key request sent to \(name) (message \(message))")
        }
    }
}
