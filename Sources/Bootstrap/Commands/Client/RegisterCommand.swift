import Application
import ArgumentParser
import Foundation

/// `sealpost register NAME`: registers and prints the new id. A v3 account by default; the
/// original's me.info identity with `--legacy`, or when the home holds a me.info already.
struct RegisterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "register",
        abstract: "Register NAME with the server; prints the new id.",
        discussion: """
            By default a protocol v3 account (TLS, end-to-end sessions): its keys are kept in \
            <home>/sealpost-v3.db; the server is --server HOST:PORT, else the host of \
            $SEALPOST_SERVER or server.info on port 1235, else 127.0.0.1:1235; it is verified by \
            --server-fingerprint or --ca-file, or else trusted on first use (<home>/known_servers). \
            The original's identity in me.info is registered instead with --legacy, in a home that \
            holds me.info, and when the server named (--server, $SEALPOST_SERVER, server.info) is \
            on a port other than 1235 and neither --v3 nor a verification option is given: the \
            original client's set-ups keep working as they did. The keys are kept before the \
            server is asked: when a registration was interrupted (a crash, a lost connection), \
            running the same `register NAME` again completes it.
            """)

    @OptionGroup var options: ClientOptions
    @OptionGroup var secure: SecureClientOptions
    @Flag(name: .long, help: "Register the original (protocol v2) identity in me.info.") var legacy = false
    @Flag(name: .long, help: "Register a protocol v3 account, whatever server is named.") var v3 = false
    @Flag(name: .long, help: "Print {\"id\": hex, \"name\": ...}.") var json = false
    @Argument(help: "The name to register (unique on the server, no spaces).") var name: String

    func run() async throws {
        let home = SecureCLI.home(options)
        let hasLegacy = FileManager.default.fileExists(atPath: (home as NSString).appendingPathComponent("me.info"))
        if SecureClient.isSecureHome(home) {
            // A v3 home stays one: registering again is refused in words below.
            if legacy {
                try await ClientRunner.run { throw SecureClientFailure("this home holds a v3 account: use another --home for an original identity") }
            }
        } else if legacy || hasLegacy || !wantsSecure(home: home) {
            try await ClientRunner.run {
                let services = try ClientEnvironment.resolve(options).services()
                let identity = try await RegisterIdentity(services).run(name: name)
                ClientRunner.say(identity.id.hex)
            }
            return
        }
        try await SecureCLI.run {
            let (record, resumed) = try await SecureClient.register(home: home, name: name, serverOption: options.server,
                                                                    verification: secure.verification(home: home))
            if resumed { StandardStreams.error("sealpost: completed the interrupted registration of \(record.name)\n") }
            ClientRunner.say(json ? "{\"id\": \(JSONText.string(record.account.description)), \"name\": \(JSONText.string(record.name))}" : record.account.description)
        }
    }

    /// Whether to register a v3 account: see the discussion above.
    private func wantsSecure(home: String) -> Bool {
        if v3 || secure.isGiven { return true }
        guard let named = try? ClientEnvironment.namedServer(options.server, home: home, environment: ProcessInfo.processInfo.environment) else {
            return true
        }
        return named.port == SecureClient.defaultPort
    }
}
