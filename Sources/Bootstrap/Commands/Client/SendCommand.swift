import Application
import ArgumentParser

/// `sealpost send NAME TEXT`: message type 3, exchanging a key first when needed.
struct SendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send", abstract: "Send NAME a text (message type 3); sends a fresh key first when none is shared.")

    @OptionGroup var options: ClientOptions
    @OptionGroup var secure: SecureClientOptions
    @Flag(name: .long, help: "On a v3 home, print {\"id\": message id, \"to\": name, \"time\": ms}.") var json = false
    @Argument(help: "The other client's name.") var name: String
    @Argument(help: "The text.") var text: String

    func run() async throws {
        if SecureCLI.isSecure(options) {
            try await SecureCLI.run {
                let client = try await SecureCLI.client(options, secure)
                let sent = try await client.send(text: text, to: name)
                await client.close()
                ClientRunner.say(json
                    ? "{\"id\": \(sent.messageID), \"to\": \(JSONText.string(name)), \"time\": \(sent.serverTime)}"
                    : "text sent to \(name) (message \(sent.messageID))")
            }
            return
        }
        try await ClientRunner.run {
            let (_, message) = try await SendText(ClientEnvironment.resolve(options).services()).run(name: name, text: text)
            ClientRunner.say("text sent to \(name) (message \(message))")
        }
    }
}
