import Application
import ArgumentParser

/// `sealpost menu`: the original client's interactive numbered menu.
struct MenuCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "menu",
        abstract: "The original client's interactive menu (1 register, 2 list, 3 public key, 4 messages, 5 text, 50 file, 51 request key, 52 send key, 0 exit).")

    @OptionGroup var options: ClientOptions
    @OptionGroup var secure: SecureClientOptions

    func run() async throws {
        if SecureCLI.isSecure(options) {
            try await SecureCLI.run {
                let client = try await SecureCLI.client(options, secure)
                await SecureMenu(client: client).run()
                await client.close()
            }
            return
        }
        try await ClientRunner.run {
            let environment = try ClientEnvironment.resolve(options)
            await ClientMenu(services: try environment.services(), server: environment.server).run()
        }
    }
}
