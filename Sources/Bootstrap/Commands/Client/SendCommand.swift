import Application
import ArgumentParser

/// `sealpost send NAME TEXT`: message type 3, exchanging a key first when needed.
struct SendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send", abstract: "Send NAME a text (message type 3); sends a fresh key first when none is shared.")

    @OptionGroup var options: ClientOptions
    @Argument(help: "The other client's name.") var name: String
    @Argument(help: "The text.") var text: String

    func run() async throws {
        try await ClientRunner.run {
            let (_, message) = try await SendText(ClientEnvironment.resolve(options).services()).run(name: name, text: text)
            ClientRunner.say("text sent to \(name) (message \(message))")
        }
    }
}
