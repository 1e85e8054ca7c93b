import Application
import ArgumentParser

/// `sealpost send-key NAME`: message type 2, creating the pair key when needed.
struct SendKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send-key", abstract: "Send NAME the pair's symmetric key (message type 2), creating it if needed.")

    @OptionGroup var options: ClientOptions
    @OptionGroup var secure: SecureClientOptions
    @Argument(help: "The other client's name.") var name: String

    func run() async throws {
        try await ClientRunner.run {
            if SecureCLI.isSecure(options) { throw SecureClientFailure("on a v3 home the sessions exchange keys by themselves: just `sealpost send NAME TEXT`") }
            let (_, message) = try await SendKey(ClientEnvironment.resolve(options).services()).run(name: name)
            ClientRunner.say("symmetric key sent to \(name) (message \(message))")
        }
    }
}
