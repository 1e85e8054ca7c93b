import ArgumentParser

/// `sealpost listen`: `inbox --follow` on a v3 home.
struct ListenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "listen",
        abstract: "Keep the v3 session open and print each message as it is pushed (inbox --follow).")

    @OptionGroup var options: ClientOptions
    @OptionGroup var secure: SecureClientOptions
    @Flag(name: .long, help: "Print one JSON object per event and line.") var json = false

    func run() async throws {
        guard SecureCLI.isSecure(options) else {
            try await ClientRunner.run { throw SecureClientFailure("listen needs a v3 home (`sealpost register NAME`); use `sealpost inbox` here") }
            return
        }
        try await InboxCommand.receive(options: options, secure: secure, follow: true, json: json)
    }
}
