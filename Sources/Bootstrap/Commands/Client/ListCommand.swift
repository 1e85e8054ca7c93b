import Application
import ArgumentParser

/// `sealpost list`: the server's other clients.
struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the server's other clients.")

    @OptionGroup var options: ClientOptions
    @Flag(name: .long, help: "Print one JSON array of {\"id\": hex, \"name\": ...}.") var json = false

    func run() async throws {
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
