import Application
import ArgumentParser

/// `sealpost list`: the server's other clients.
struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the server's other clients.")

    @OptionGroup var options: ClientOptions
    @OptionGroup var secure: SecureClientOptions
    @Flag(name: .long, help: "Print one JSON array of {\"id\": hex, \"name\": ...}.") var json = false

    func run() async throws {
        if SecureCLI.isSecure(options) {
            try await SecureCLI.run {
                let client = try await SecureCLI.client(options, secure)
                let entries = try await client.directory().filter { $0.account != client.identity.account }
                await client.close()
                if json {
                    ClientRunner.say("[" + entries.map { "{\"id\": \(JSONText.string($0.account.description)), \"name\": \(JSONText.string($0.name.value))}" }.joined(separator: ", ") + "]")
                } else {
                    for entry in entries { ClientRunner.say("\(entry.name.value) \(entry.account)") }
                }
            }
            return
        }
        try await ClientRunner.run {
            let clients = try await ListOtherClients(ClientEnvironment.resolve(options).services()).run()
            if json {
                ClientRunner.say(JSONText.clients(clients))
            } else {
                for client in clients { ClientRunner.say("\(client.name) \(client.id.hex)") }
            }
        }
    }
}
