import Application
import ArgumentParser

/// `sealpost register NAME`: registers and prints the new client id.
struct RegisterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "register", abstract: "Register NAME with the server and save the identity in me.info; prints the new id.")

    @OptionGroup var options: ClientOptions
    @Argument(help: "The name to register (unique on the server, no spaces).") var name: String

    func run() async throws {
        try await ClientRunner.run {
            let services = try ClientEnvironment.resolve(options).services()
            let identity = try await RegisterIdentity(services).run(name: name)
            ClientRunner.say(identity.id.hex)
        }
    }
}
