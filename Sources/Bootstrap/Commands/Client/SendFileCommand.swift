import Application
import ArgumentParser

/// `sealpost send-file NAME PATH`: message type 4, encrypted while it streams.
struct SendFileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send-file", abstract: "Send NAME a file (message type 4), encrypted while it streams from disk.")

    @OptionGroup var options: ClientOptions
    @Argument(help: "The other client's name.") var name: String
    @Argument(help: "The file to send.") var path: String

    func run() async throws {
        try await ClientRunner.run {
            let services = try ClientEnvironment.resolve(options).services()
            let (_, message, size) = try await SendFile(services).run(
                name: name, path: path, progress: TerminalProgress.makeIfTerminal())
            ClientRunner.say("file sent to \(name) (\(size) bytes, message \(message))")
        }
    }
}
