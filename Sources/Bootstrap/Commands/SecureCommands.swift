import Adapters
import ArgumentParser
import Foundation
import SealpostWire

/// `sealpost server-fingerprint`: the secure server's fingerprint, as `serve` prints it.
struct ServerFingerprintCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server-fingerprint",
        abstract: "Print the secure server's certificate fingerprint (SHA-256 of its public key).",
        discussion: """
            Reads the same settings as `serve` (defaults, then the configuration file, then the \
            options). Without tls.certificate it makes the self-signed certificate if it does \
            not exist yet, so the fingerprint can be pinned before the first start.
            """
    )

    @Option(name: .long, help: "A JSON configuration file (see config/).")
    var config: String?

    @Option(name: .long, help: "The store: memory, sqlite or postgres (where the certificate is kept follows from it).")
    var store: String?

    @Option(name: .long, help: "The SQLite database file (the certificate is kept beside it).")
    var sqlitePath: String?

    @Option(name: .long, help: "Where the generated TLS certificate is kept.")
    var tlsDirectory: String?

    func run() async throws {
        var arguments: [String] = []
        if let config { arguments += ["--config", config] }
        if let store { arguments += ["--store", store] }
        if let sqlitePath { arguments += ["--sqlite-path", sqlitePath] }
        if let tlsDirectory { arguments += ["--tls-directory", tlsDirectory] }
        let configuration = try ServeCommand.parse(arguments).resolveConfiguration()
        let certificate = try await configuration.loadCertificate()
        for warning in certificate.warnings { FileHandle.standardError.write(Data("sealpost: warning: \(warning)\n".utf8)) }
        print(certificate.fingerprint.hex)
    }
}

/// The options that say how a client verifies the secure server.
struct SecureClientOptions: ParsableArguments {
    @Option(name: .long, help: "The server's fingerprint (64 hex digits), as `sealpost server-fingerprint` prints it.")
    var serverFingerprint: String?

    @Option(name: .long, help: "Verify the server with this CA (PEM) and its host name, instead of a fingerprint.")
    var caFile: String?

    @Flag(name: .long, help: "Verify the server with the system's trust store and its host name.")
    var systemTrust = false

    func validate() throws {
        if let serverFingerprint, ServerFingerprint(hex: serverFingerprint) == nil {
            throw ValidationError("--server-fingerprint must be 64 hex digits")
        }
        if [serverFingerprint != nil, caFile != nil, systemTrust].filter({ $0 }).count > 1 {
            throw ValidationError("give at most one of --server-fingerprint, --ca-file and --system-trust")
        }
    }

    /// Whether a verification option was given.
    var isGiven: Bool { serverFingerprint != nil || caFile != nil || systemTrust }

    /// Pinned, CA, or else trust on first use with the home's known_servers.
    func verification(home: String) -> ServerVerification {
        if let serverFingerprint, let fingerprint = ServerFingerprint(hex: serverFingerprint) { return .pinned(fingerprint) }
        if let caFile { return .certificateAuthority(caFile: caFile) }
        if systemTrust { return .certificateAuthority(caFile: nil) }
        return .trustOnFirstUse(KnownServers(home: home))
    }
}

/// `sealpost secure-hello`: connects to the secure server, verifies it and prints its HELLO.
struct SecureHelloCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secure-hello",
        abstract: "Connect to the secure (TLS) server, verify it, and print its fingerprint and HELLO.",
        discussion: "By default the server is trusted on first use: its fingerprint is recorded in <home>/known_servers, and a later change is refused."
    )

    @OptionGroup var options: ClientOptions
    @OptionGroup var secure: SecureClientOptions
    @Option(name: .long, help: "Connect this many times and print the mean time of a handshake and HELLO.")
    var repeatCount: Int = 1

    func run() async throws {
        try await ClientRunner.run {
            let environment = ProcessInfo.processInfo.environment
            let home = ClientEnvironment.resolveHome(options.home, environment: environment, currentDirectory: FileManager.default.currentDirectoryPath)
            guard let text = options.server ?? environment["SEALPOST_SERVER"], let address = ServerAddress(parsing: text) else {
                throw ValidationError("--server HOST:PORT (the secure port) is required")
            }
            let verification = secure.verification(home: home)
            let clock = ContinuousClock()
            let started = clock.now
            var last: (fingerprint: ServerFingerprint, hello: V3Hello, firstUse: Bool)?
            for _ in 0..<max(1, repeatCount) {
                last = try await SecureConnection.withConnection(host: address.host, port: address.port, verification: verification) { session in
                    (session.fingerprint, session.hello, session.recordedFirstUse)
                }
            }
            guard let last else { return }
            if last.firstUse {
                ClientRunner.say("first connection to \(address): recorded its fingerprint in \(KnownServers(home: home).path)")
            }
            ClientRunner.say("fingerprint \(last.fingerprint.hex)")
            let hello = last.hello
            ClientRunner.say("hello version \(hello.version) maxFrameBytes \(hello.maxFrameBytes) maxEnvelopeBytes \(hello.maxEnvelopeBytes) maxInFlight \(hello.maxInFlight) deliveryWindow \(hello.deliveryWindow) authTimeoutSeconds \(hello.authTimeoutSeconds) idleTimeoutSeconds \(hello.idleTimeoutSeconds)")
            if repeatCount > 1 {
                let elapsed = clock.now - started
                let mean = Double(elapsed.components.seconds) * 1000 / Double(repeatCount) + Double(elapsed.components.attoseconds) / 1e15 / Double(repeatCount)
                ClientRunner.say(String(format: "%d connections, mean %.2f ms per handshake + HELLO", repeatCount, mean))
            }
        }
    }
}

/// `sealpost forget-server HOST:PORT`: removes a server from known_servers, so that the next
/// connection records its (new) fingerprint.
struct ForgetServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forget-server",
        abstract: "Forget a secure server's recorded fingerprint (after checking that its key really changed)."
    )

    @Argument(help: "The server as HOST:PORT.") var server: String
    @Option(name: .long, help: "The client's home directory.") var home: String?

    func run() async throws {
        try await ClientRunner.run {
            guard let address = ServerAddress(parsing: server) else { throw ValidationError("the server must be HOST:PORT, not \"\(server)\"") }
            let environment = ProcessInfo.processInfo.environment
            let home = ClientEnvironment.resolveHome(home, environment: environment, currentDirectory: FileManager.default.currentDirectoryPath)
            let known = KnownServers(home: home)
            if try await known.forget(address.description) {
                ClientRunner.say("forgot \(address); the next connection records its fingerprint")
            } else {
                ClientRunner.say("\(address) was not recorded in \(known.path)")
            }
        }
    }
}
