import Application
import ArgumentParser

/// `sealpost whoami`: the name and id of this home's identity.
struct WhoAmICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "whoami", abstract: "Show this client's name and id.")

    @OptionGroup var options: ClientOptions
    @OptionGroup var secure: SecureClientOptions
    @Flag(name: .long, help: "Print {\"id\": hex, \"name\": ...}.") var json = false

    func run() async throws {
        if SecureCLI.isSecure(options) {
            try await SecureCLI.run {
                let client = try await SecureCLI.client(options, secure)
                let me = client.identity
                ClientRunner.say(json
                    ? "{\"id\": \(JSONText.string(me.account.description)), \"name\": \(JSONText.string(me.name)), \"server\": \(JSONText.string(client.server.description))}"
                    : "\(me.name) \(me.account)")
            }
            return
        }
        try await ClientRunner.run {
            let identity = try await WhoAmI(ClientEnvironment.resolve(options).services()).run()
            ClientRunner.say(json ? JSONText.client(id: identity.id, name: identity.name) : "\(identity.name) \(identity.id.hex)")
        }
    }
}
