import Application
import ArgumentParser

/// `sealpost inbox`: pulls, decrypts and prints the waiting messages in order.
struct InboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inbox",
        abstract: "Pull, decrypt and print the waiting messages.",
        discussion: """
            Stores received keys, answers key requests (unless --no-auto-reply) and saves files under <home>/downloads. \
            On a v3 home: each message is decrypted, kept and acknowledged, and the command ends once the server says \
            everything that waited was handed over (or after 3 s without news from an older server); a file download \
            cut by a crash or a lost connection resumes on the next run (a partial download left by a crash after its \
            file was kept is deleted), and a file that fails its checks 3 times is given up and kept in the history as \
            failed.
            """)

    @OptionGroup var options: ClientOptions
    @OptionGroup var secure: SecureClientOptions
    @Flag(name: .long, help: "On a v3 home, keep the session open and print each message as it is pushed.") var follow = false
    @Flag(name: .long, help: "Print one JSON object per message and line.") var json = false
    @Flag(name: .long, help: "Do not answer key requests.") var noAutoReply = false

    func run() async throws {
        if SecureCLI.isSecure(options) {
            try await Self.receive(options: options, secure: secure, follow: follow, json: json)
            return
        }
        try await ClientRunner.run {
            let services = try ClientEnvironment.resolve(options).services()
            let result = try await ReadInbox(services).run(autoReply: !noAutoReply, progress: TerminalProgress.makeIfTerminal())
            for entry in result.entries {
                if json {
                    ClientRunner.say(JSONText.entry(entry))
                } else {
                    ClientRunner.say(InboxPrinter.text(entry))
                }
            }
            if let failure = result.failure { ClientRunner.fail(failure.description) }
        }
    }

    /// A v3 home's inbox: what waits (or, with `follow`, everything pushed until the process
    /// ends), each delivery kept and acknowledged before it is printed.
    static func receive(options: ClientOptions, secure: SecureClientOptions, follow: Bool, json: Bool) async throws {
        try await SecureCLI.run {
            let client = try await SecureCLI.client(options, secure)
            try await client.receiveAll(follow: follow) { receipt in SecureCLI.print(receipt, json: json) }
            await client.close()
        }
    }
}
