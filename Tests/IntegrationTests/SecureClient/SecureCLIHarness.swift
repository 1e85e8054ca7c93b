import Foundation
import Testing

/// A `sealpost serve` process with its secure (v3) port, and the client homes of one test that
/// run the built `sealpost` binary against it, pinned to the server's fingerprint.
final class SecureCLIHarness: @unchecked Sendable {
    // `server` changes only on `restart`, from the test's own task.
    private(set) var server: ServerProcess
    private(set) var securePort: Int
    let fingerprint: String
    let storeArguments: [String]
    let root: URL

    private init(server: ServerProcess, securePort: Int, fingerprint: String, storeArguments: [String], root: URL) {
        self.server = server
        self.securePort = securePort
        self.fingerprint = fingerprint
        self.storeArguments = storeArguments
        self.root = root
    }

    /// "secure: listening on HOST:PORT (TLS 1.3, …), fingerprint HEX".
    static func secure(_ line: String) throws -> (port: Int, fingerprint: String) {
        let words = line.split(separator: " ")
        guard words.count > 3, let port = words[3].split(separator: ":").last.flatMap({ Int($0) }),
              let fingerprint = words.last.map({ String($0).trimmingCharacters(in: .whitespacesAndNewlines) }), fingerprint.count == 64
        else { throw TestSetupError("unexpected secure line: \(line)") }
        return (port, fingerprint)
    }

    /// Starts a server on a fresh store of `kind`, runs `body`, and stops the server.
    static func with<T: Sendable>(_ kind: StoreKind, _ body: (SecureCLIHarness) async throws -> T) async throws -> T {
        let root = try TestStores.temporaryDirectory()
        let arguments = try await ServerProcess.storeArguments(kind, directory: root)
        let server = try await ServerProcess.start(arguments: arguments, lines: 2)
        let (port, fingerprint) = try secure(server.lines[1])
        let harness = SecureCLIHarness(server: server, securePort: port, fingerprint: fingerprint, storeArguments: arguments, root: root)
        do {
            let result = try await body(harness)
            await harness.server.kill9()
            try? FileManager.default.removeItem(at: root)
            return result
        } catch {
            await harness.server.kill9()
            try? FileManager.default.removeItem(at: root)
            throw error
        }
    }

    /// Kills the server (SIGKILL) and starts it again on the same store; with `samePorts`, on
    /// the same ports (for a client that reconnects).
    func restart(samePorts: Bool = false) async throws {
        let ports = samePorts ? ["--port", "\(server.port)", "--secure-port", "\(securePort)"] : []
        await server.kill9()
        server = try await ServerProcess.start(arguments: storeArguments + ports, lines: 2)
        let (port, fingerprint) = try Self.secure(server.lines[1])
        #expect(fingerprint == self.fingerprint)
        securePort = port
    }

    func home(_ name: String) -> String { root.appendingPathComponent("home-\(name)").path }

    /// `sealpost ARGUMENTS --home <home> --server 127.0.0.1:<secure port> --server-fingerprint <hex>`.
    func run(_ home: String, _ arguments: [String], stdin: String = "", environment: [String: String] = [:]) async throws -> SealpostBinary.Result {
        try await SealpostBinary.run(
            arguments + ["--home", self.home(home), "--server", "127.0.0.1:\(securePort)", "--server-fingerprint", fingerprint],
            stdin: stdin, directory: root, environment: environment)
    }

    func run(_ home: String, _ arguments: String...) async throws -> SealpostBinary.Result {
        try await run(home, arguments)
    }

    /// Registers `name` in the home of the same name; returns its account id.
    @discardableResult
    func register(_ name: String) async throws -> String {
        let result = try await run(name, "register", name)
        guard result.status == 0, let id = result.lines.first else { throw TestSetupError("register \(name): \(result.stderr)") }
        return id
    }

    /// Runs `inbox --json` in `home` until `count` messages have been shown in all (each run
    /// returns once the server said it is caught up); returns them in order.
    func receive(_ home: String, count: Int, timeout: Duration = .seconds(30)) async throws -> [[String: Any]] {
        var shown: [[String: Any]] = []
        let deadline = ContinuousClock.now + timeout
        while shown.count < count, ContinuousClock.now < deadline {
            let result = try await run(home, "inbox", "--json")
            guard result.status == 0 else { throw TestSetupError("inbox \(home): \(result.stderr)") }
            for line in result.lines {
                guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { continue }
                if object["event"] as? String == "message" { shown.append(object) }
            }
        }
        return shown
    }
}
