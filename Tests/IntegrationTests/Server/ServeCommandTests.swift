import Foundation
import Testing

/// `sealpost serve` as a user runs it: configuration files, overrides, port.info, errors.
@Suite("serve command")
struct ServeCommandTests {
    static let root = ServerProcess.binary.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("each ready configuration file starts its store; flags override the file")
    func configFiles() async throws {
        let memory = try await ServerProcess.start(arguments: ["--config", Self.root.appendingPathComponent("config/memory.json").path])
        #expect(memory.firstLine.hasPrefix("sealpost listening on 127.0.0.1:"))
        #expect(memory.firstLine.contains("(store: memory)"))
        let id = try Reply(try await RawClient.exchange(Requests.register("config-user"), port: memory.port))
        #expect(id.code == 1000)
        #expect(await memory.terminate() == 0)

        let directory = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let sqlite = try await ServerProcess.start(
            arguments: ["--config", Self.root.appendingPathComponent("config/sqlite.json").path],
            workingDirectory: directory)
        #expect(sqlite.firstLine.contains("(store: sqlite)"))
        #expect(await sqlite.terminate() == 0)
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("sealpost.db").path))
    }

    @Test("with no arguments: SQLite in ./sealpost.db, on the port of ./port.info when present")
    func defaults() async throws {
        let directory = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let port = try freeLoopbackPort()
        try "\(port)\n".write(to: directory.appendingPathComponent("port.info"), atomically: true, encoding: .utf8)
        // As root (CI), serving 0.0.0.0 needs --allow-root (README, "Running as an
        // unprivileged user"); the defaults are otherwise the same.
        let root = getuid() == 0 ? ["--allow-root"] : []
        let server = try await ServerProcess.start(arguments: root, workingDirectory: directory, defaults: ["--log-level", "warning", "--secure-port", "0"])
        #expect(server.port == port)
        #expect(server.firstLine.contains("(store: sqlite)"))
        #expect(try Reply(try await RawClient.exchange(Requests.register("defaults"), port: port)).code == 1000)
        #expect(await server.terminate() == 0)
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("sealpost.db").path))
    }

    @Test("bad configuration gives a one-line reason and a non-zero exit")
    func badConfiguration() async throws {
        let directory = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let broken = directory.appendingPathComponent("broken.json")
        try #"{"storage": {"kind": "mongodb"}}"#.write(to: broken, atomically: true, encoding: .utf8)
        let cases: [[String]] = [
            ["serve", "--config", broken.path],
            ["serve", "--config", directory.appendingPathComponent("missing.json").path],
            ["serve", "--store", "bogus"],
            ["serve", "--port", "70000"],
            ["serve", "--store", "postgres"],
        ]
        for arguments in cases {
            let (status, stderr) = try await ServerProcess.runToEnd(arguments, workingDirectory: directory)
            #expect(status != 0, "\(arguments)")
            #expect(!stderr.isEmpty, "\(arguments)")
        }
        let (_, message) = try await ServerProcess.runToEnd(["serve", "--config", broken.path], workingDirectory: directory)
        #expect(message.contains("storage.kind"))
    }
}
