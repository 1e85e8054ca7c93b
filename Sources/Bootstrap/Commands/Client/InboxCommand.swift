import Application
import ArgumentParser

/// `sealpost inbox`: pulls, decrypts and prints the waiting messages in order.
struct InboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inbox",
        abstract: "Pull, decrypt and print the waiting messages.",
        discussion: "Stores received keys, answers key requests (unless --no-auto-reply) and saves files under <home>/downloads.")

    @OptionGroup var options: ClientOptions
    @Flag(name: .long, help: "Print one JSON object per message and line.") var json = false
    @Flag(name: .long, help: "Do not answer key requests.") var noAutoReply = false

    func run() async throws {
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
}
