import Application
import ArgumentParser

/// `sealpost send-file NAME PATH`: message type 4, encrypted while it streams.
struct SendFileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send-file", abstract: "Send NAME a file (message type 4), encrypted while it streams from disk.")

    @OptionGroup var options: ClientOptions
    @OptionGroup var secure: SecureClientOptions
    @Argument(help: "The other client's name.") var name: String
    @Argument(help: "The file to send.") var path: String

    func run() async throws {
        try await ClientRunner.run {
            if SecureCLI.isSecure(options) { throw SecureClientFailure("send-file is not available on v3 homes yet (attachments on the v3 server are still to come)") }
            let services = try ClientEnvironment.resolve(options).services()
            let (_, message, size) = try await SendFile(services).run(
                name: name, path: path, progress: TerminalProgress.makeIfTerminal())
            ClientRunner.say("file sent to \(name) (\(size) bytes, message \(message))")
        }
    }
}
