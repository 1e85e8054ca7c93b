import Domain
import Foundation
import NIOCore
import Testing

/// SIGTERM stops accepting but lets the request in flight finish.
@Suite("Graceful shutdown")
struct GracefulShutdownTests {
    @Test("an upload in flight at SIGTERM completes and is acknowledged; the process exits 0")
    func finishesInFlight() async throws {
        let directory = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = directory.appendingPathComponent("g.db").path
        let server = try await ServerProcess.start(arguments: ["--store", "sqlite", "--sqlite-path", database])
        let alice = try Reply(try await RawClient.exchange(Requests.register("alice"), port: server.port)).clientID!
        let request = Requests.send(alice, to: alice, type: 4, content: Array(repeating: 0x42, count: 4 * 1024 * 1024))

        let channel = try await RawClient.connect(port: server.port)
        let reply = try await channel.executeThenClose { inbound, outbound in
            let half = request.count / 2
            try await outbound.write(ByteBuffer(bytes: request[..<half]))
            // SIGTERM once the upload is in flight (its part file exists), and the rest
            // once the server has stopped accepting: the in-flight request must still finish.
            #expect(try await Self.uploadInFlight(database), "the upload never started")
            kill(server.pid, SIGTERM)
            #expect(try await eventually { try await !Self.accepts(port: server.port) }, "still accepting after SIGTERM")
            try await outbound.write(ByteBuffer(bytes: request[half...]))
            var received: [UInt8] = []
            for try await buffer in inbound { received += buffer.readableBytesView }
            return received
        }
        #expect(try Reply(reply).code == 1003)
        #expect(await server.waitForExit() == 0)
        // New connections are refused once it has stopped.
        await #expect(throws: (any Error).self) { _ = try await RawClient.exchange(Requests.list(alice), port: server.port) }
    }

    /// Waits (up to 5 s) until the SQLite store at `database` has an upload in flight: a
    /// part file among its blobs.
    static func uploadInFlight(_ database: String) async throws -> Bool {
        try await eventually {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: database + ".blobs")) ?? []
            return files.contains { $0.hasSuffix(".part") }
        }
    }

    /// Whether a connection to `port` is accepted now (it is closed again at once).
    static func accepts(port: Int) async throws -> Bool {
        try await offPool {
            guard let fd = try? openRaw(port: port) else { return false }
            close(fd)
            return true
        }
    }

    /// Opens a plain blocking TCP connection to the server (off the cooperative pool).
    static func openRaw(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestSetupError("socket: \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else { close(fd); throw TestSetupError("connect: \(errno)") }
        return fd
    }

    @Test("SIGTERM with 100 idle connections and 10 slowloris clients open: they are closed at once, and the process exits within 1 s")
    func idleAndSlowClientsDoNotHoldShutdown() async throws {
        let directory = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try await ServerProcess.start(arguments: ["--store", "sqlite", "--sqlite-path", directory.appendingPathComponent("s.db").path])
        let port = server.port
        let fds = try await offPool { () throws -> [Int32] in
            let fds = try (0..<110).map { _ in try Self.openRaw(port: port) }
            // The last 10 have started a request head and trickle it (a byte now, one every
            // 100 ms below): the slowloris pattern.
            for fd in fds.suffix(10) { var byte: UInt8 = 0; _ = send(fd, &byte, 1, Int32(MSG_NOSIGNAL)) }
            return fds
        }
        defer { for fd in fds { close(fd) } }
        // Wait until the server has accepted all 110 (a list request on a new connection
        // is answered only after the accept loop has taken the earlier ones).
        let alice = try Reply(try await RawClient.exchange(Requests.register("alice"), port: port)).clientID!
        _ = try await RawClient.exchange(Requests.list(alice), port: port)

        let start = ContinuousClock.now
        kill(server.pid, SIGTERM)
        let trickle = Task.detached {
            while !Task.isCancelled {
                for fd in fds.suffix(10) { var byte: UInt8 = 0; _ = send(fd, &byte, 1, Int32(MSG_NOSIGNAL)) }
                // Pacing, not a wait: the trickle is the scenario under test.
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        let status = await server.waitForExit()
        let elapsed = ContinuousClock.now - start
        trickle.cancel()
        #expect(status == 0)
        #expect(elapsed < .seconds(1), "exited \(elapsed) after SIGTERM")
        // Every connection was closed by the server: a read sees the end (or a reset).
        let ended = try await offPool { () -> Int in
            fds.filter { fd in var byte: UInt8 = 0; return recv(fd, &byte, 1, 0) <= 0 }.count
        }
        #expect(ended == 110)
    }

    @Test("a send stalled in flight is closed when server.shutdownGraceSeconds is over, and is not stored")
    func graceEnds() async throws {
        let directory = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("grace.json")
        try Data(#"{"server": {"shutdownGraceSeconds": 0.5, "idleTimeoutSeconds": 30}}"#.utf8).write(to: config)
        let database = directory.appendingPathComponent("g.db").path
        let server = try await ServerProcess.start(arguments: ["--config", config.path, "--store", "sqlite", "--sqlite-path", database])
        let alice = try Reply(try await RawClient.exchange(Requests.register("alice"), port: server.port)).clientID!
        let request = Requests.send(alice, to: alice, type: 4, content: Array(repeating: 0x42, count: 1024 * 1024))
        let channel = try await RawClient.connect(port: server.port)
        let start = ContinuousClock.now
        let reply = try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(bytes: request[..<(request.count / 2)]))
            // SIGTERM once the send is in flight (its part file exists).
            #expect(try await Self.uploadInFlight(database), "the upload never started")
            kill(server.pid, SIGTERM)
            // The rest never comes: the connection must be closed by the server.
            var received: [UInt8] = []
            do {
                for try await buffer in inbound { received += buffer.readableBytesView }
            } catch {}
            return received
        }
        let status = await server.waitForExit()
        let elapsed = ContinuousClock.now - start
        #expect(status == 0)
        #expect(reply.isEmpty || (try? Reply(reply).code) != 1003)
        // Well before the 30 s idle timeout: the grace of 0.5 s ended it.
        #expect(elapsed < .seconds(5), "exited \(elapsed) after SIGTERM")
        // Nothing half-stored: a restarted server has no message for alice.
        let again = try await ServerProcess.start(arguments: ["--store", "sqlite", "--sqlite-path", database])
        let pulled = try Reply(try await RawClient.exchange(Requests.pull(alice), port: again.port))
        #expect(pulled.code == 1004)
        #expect(pulled.payload.isEmpty)
        _ = await again.terminate()
    }
}
