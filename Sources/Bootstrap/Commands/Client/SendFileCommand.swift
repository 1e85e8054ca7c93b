import Application
import ArgumentParser

/// `sealpost send-file NAME PATH`: message type 4, encrypted while it streams.
struct SendFileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send-file", abstract: "Send NAME a file (message type 4), encrypted while it streams from disk.",
        discussion: """
            On a v3 home the upload resumes after a dropped connection, and after a crash: running the same \
            `send-file NAME PATH` again resumes it where the server's bytes end ("resuming PATH at N of M bytes" on \
            stderr) and sends the file once. A file changed since (its size or modification time), or an upload the \
            server no longer has, starts over, said on stderr.
            """)

    @OptionGroup var options: ClientOptions
    @OptionGroup var secure: SecureClientOptions
    @Argument(help: "The other client's name.") var name: String
    @Argument(help: "The file to send.") var path: String
    @Option(name: .customLong("file-name"), help: "On a v3 home, the name the file is sent under (its own by default).") var fileName: String?

    func run() async throws {
        if SecureCLI.isSecure(options) {
            try await SecureCLI.run {
                let client = try await SecureCLI.client(options, secure)
                let (sent, size) = try await client.sendFile(at: path, to: name, as: fileName, progress: TerminalProgress.makeIfTerminal())
                await client.close()
                ClientRunner.say("file sent to \(name) (\(size) bytes, message \(sent.messageID))")
            }
            return
        }
        try await ClientRunner.run {
            let services = try ClientEnvironment.resolve(options).services()
            let (_, message, size) = try await SendFile(services).run(
                name: name, path: path, progress: TerminalProgress.makeIfTerminal())
            ClientRunner.say("file sent to \(name) (\(size) bytes, message \(message))")
        }
    }
}
