import Adapters
import Foundation
import Testing

/// `serve --user`: started as root, the server binds, then gives up root for good and goes on
/// serving, its SQLite store writable; as root without `--user` it refuses a public address.
@Suite("serve as an unprivileged user", .serialized)
struct ServeUserTests {
    static let nobody: UInt32 = 65_534
    static let loopback = ["--host", "127.0.0.1", "--port", "0", "--secure-port", "0", "--log-level", "warning"]

    /// The values of a `/proc/PID/status` line (`Uid:`, `Gid:`, `Groups:`, `CapEff:` …), or of
    /// one thread's (`/proc/PID/task/TID/status`).
    static func status(_ pid: Int32, thread: String? = nil, _ key: String) throws -> [String] {
        let path = thread.map { "/proc/\(pid)/task/\($0)/status" } ?? "/proc/\(pid)/status"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(key + ":") }) else { return [] }
        return line.dropFirst(key.count + 1).split(whereSeparator: \.isWhitespace).map(String.init)
    }

    @Test("as root with --user nobody: binds, becomes nobody (uid, gid, groups, no capabilities), and still serves v2 and v3 on SQLite",
          .enabled(if: getuid() == 0, "needs root"))
    func dropsRoot() async throws {
        let directory = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        // The operator's part: the store's directory belongs to the user.
        #expect(chown(directory.path, Self.nobody, Self.nobody) == 0)
        let database = directory.appendingPathComponent("db.sqlite").path
        let server = try await ServerProcess.start(
            arguments: ["--user", "nobody", "--store", "sqlite", "--sqlite-path", database,
                        "--tls-directory", directory.appendingPathComponent("tls").path],
            defaults: Self.loopback, lines: 2)
        let pid = server.pid
        let uid = try Self.status(pid, "Uid")
        let gid = try Self.status(pid, "Gid")
        let groups = try Self.status(pid, "Groups")
        let capabilities = try Self.status(pid, "CapEff") + Self.status(pid, "CapPrm")
        print("serve --user nobody: Uid \(uid), Gid \(gid), Groups \(groups), CapEff/CapPrm \(capabilities)")
        // Real, effective, saved and file-system ids alike: there is no way back to root.
        #expect(uid == Array(repeating: "\(Self.nobody)", count: 4))
        #expect(gid == Array(repeating: "\(Self.nobody)", count: 4))
        #expect(!groups.contains("0"))
        #expect(capabilities.allSatisfy { $0 == "0000000000000000" })
        // Every thread, the main one that dispatch_main() parks included.
        let threads = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")
        for thread in threads {
            let threadUid = (try? Self.status(pid, thread: thread, "Uid")) ?? []  // a thread may end meanwhile
            #expect(threadUid.isEmpty || threadUid == Array(repeating: "\(Self.nobody)", count: 4), "thread \(thread): Uid \(threadUid)")
        }
        print("serve --user nobody: \(threads.count) threads, all uid \(Self.nobody)")

        // It still serves, and writes its store: v2 registers, v3 registers over TLS.
        let client = try await server.register("alice")
        #expect(client.bytes.count == 16)
        let fingerprint = try #require(server.lines[1].split(separator: " ").last.flatMap { ServerFingerprint(hex: String($0).trimmingCharacters(in: .whitespacesAndNewlines)) })
        let port = try #require(ServerProcess.port(in: server.lines[1]))
        let account = try V3TestAccount("bob")
        let registered = try await SecureConnection.withConnection(host: "127.0.0.1", port: port, verification: .pinned(fingerprint)) { session in
            try await V3Probe(session).register(account)
        }
        #expect(registered.bytes.count == 16)
        let owner = try FileManager.default.attributesOfItem(atPath: database)[.ownerAccountID] as? NSNumber
        #expect(owner?.uint32Value == Self.nobody)
        #expect(await server.terminate() == 0)
    }

    @Test("as root without --user: a public address is refused, --allow-root permits it, loopback is allowed", .enabled(if: getuid() == 0, "needs root"))
    func rootWithoutUser() async throws {
        let refused = try await ServerProcess.runToEnd(["serve", "--host", "0.0.0.0", "--port", "0", "--secure-port", "0", "--store", "memory"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("refusing to serve 0.0.0.0 as root"))
        let allowed = try await ServerProcess.start(
            arguments: ["--store", "memory", "--allow-root"],
            defaults: ["--host", "0.0.0.0", "--port", "0", "--secure-port", "0", "--log-level", "warning", "--tls-directory", ServerProcess.tlsDirectory])
        // Started is all this test asks: SIGKILL, so that a SIGTERM lost in start-up (seen
        // once: the server then never ends) cannot hang it.
        await allowed.kill9()
        let local = try await ServerProcess.start(arguments: ["--store", "memory"])
        await local.kill9()
    }
}
