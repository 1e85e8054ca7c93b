import ArgumentParser
import Foundation

/// `sealpost history NAME`: the local history with NAME, both directions.
struct HistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history", abstract: "Print the messages exchanged with NAME (kept locally), oldest first.")

    @OptionGroup var options: ClientOptions
    @OptionGroup var secure: SecureClientOptions
    @Flag(name: .long, help: "Print one JSON object per message and line.") var json = false
    @Argument(help: "The contact's name.") var name: String

    func run() async throws {
        try await SecureCLI.run {
            let client = try await SecureCLI.requireSecure(options, secure)
            let entries = try await client.history(with: name)
            await client.close()
            for entry in entries {
                if json {
                    ClientRunner.say(JSONText.history(entry))
                } else {
                    let time = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(entry.time) / 1000))
                    let body = entry.kind == "file-failed" ? "FILE NOT RECEIVED: \(entry.body)" : entry.body
                    ClientRunner.say("\(time) \(entry.direction == .sent ? "to" : "from") \(name): \(body)")
                }
            }
        }
    }
}
