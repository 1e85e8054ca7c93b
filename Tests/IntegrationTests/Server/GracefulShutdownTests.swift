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
        let server = try await ServerProcess.start(arguments: ["--store", "sqlite", "--sqlite-path", directory.appendingPathComponent("g.db").path])
        let alice = try Reply(try await RawClient.exchange(Requests.register("alice"), port: server.port)).clientID!
        let request = Requests.send(alice, to: alice, type: 4, content: Array(repeating: 0x42, count: 4 * 1024 * 1024))

        let channel = try await RawClient.connect(port: server.port)
        let reply = try await channel.executeThenClose { inbound, outbound in
            let half = request.count / 2
            try await outbound.write(ByteBuffer(bytes: request[..<half]))
            try await Task.sleep(for: .milliseconds(200))
            kill(server.pid, SIGTERM)
            try await Task.sleep(for: .milliseconds(300))
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
}
