@testable import Adapters
import Foundation
import Application
import Glibc
import Logging
import Synchronization
import Testing

/// The transport's remaining rails: a handle that is dead after close, `execute` that only
/// queues, and loops that stop with their group.
@Suite("Transport: handle, execute and loop-group rails")
struct StreamRailsTests {
    @Test("a closed socket handle fails every operation with EBADF and never reaches the socket that reused its number")
    func handleIsDeadAfterClose() throws {
        let (ours, ourPeer) = SocketLoopTests.pair()
        var handle = SocketHandle(ours)
        let number = handle.descriptor
        handle.close()
        #expect(!handle.isOpen)
        // The next socket opened gets the freed number.
        let (reused, reusedPeer) = SocketLoopTests.pair()
        defer { close(reused); close(reusedPeer); close(ourPeer) }
        try #require(reused == number || reusedPeer == number, "the kernel did not reuse the number; the test cannot tell")
        let message: [UInt8] = Array("for the old connection".utf8)
        let sent = message.withUnsafeBytes { handle.send($0) }
        #expect(sent == -Int(EBADF))
        var scratch = [UInt8](repeating: 0, count: 64)
        #expect(scratch.withUnsafeMutableBytes { handle.read(into: $0) } == -Int(EBADF))
        #expect(handle.shutdownOutput() == EBADF)
        #expect(handle.setNoDelay() == EBADF)
        #expect(handle.unacknowledgedBytes() == -Int(EBADF))
        handle.close()  // a second close must not close the newcomer
        // The socket now holding the number is untouched: still open, nothing written to it.
        let other = reused == number ? reusedPeer : reused
        let waiting = recv(other, &scratch, scratch.count, Int32(MSG_DONTWAIT))
        #expect(waiting < 0 && errno == EAGAIN, "bytes meant for a closed connection reached another")
        #expect(fcntl(number, F_GETFD) >= 0, "the reused descriptor was closed")
    }

    @Test("execute on the loop queues the work: it runs after the caller returns, never inside it")
    func executeOnlyQueues() async {
        let loop = SocketLoop(name: "rail-exec")
        let order = Mutex<[String]>([])
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            loop.execute {
                loop.execute {
                    order.withLock { $0.append("queued work") }
                    done.resume()
                }
                order.withLock { $0.append("caller went on") }
            }
        }
        #expect(order.withLock { $0 } == ["caller went on", "queued work"])
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in loop.stop { done.resume() } }
    }

    static func threadNames() -> Set<String> {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return Set(tasks.compactMap { try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8) }
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) })
    }

    @Test("shutting a loop group down ends its threads; a task that still prefers a stopped loop runs elsewhere")
    func groupShutsDown() async {
        let group = SocketLoopGroup(count: 3, name: "rail-grp")
        #expect(Self.threadNames().isSuperset(of: ["rail-grp-0", "rail-grp-1", "rail-grp-2"]))
        await group.shutdown()
        #expect(group.isShutDown)
        #expect(Self.threadNames().isDisjoint(with: ["rail-grp-0", "rail-grp-1", "rail-grp-2"]), "loop threads outlived their group")
        let ran = await Task(executorPreference: group.loops[0]) { 42 }.value
        #expect(ran == 42)
        await group.shutdown()  // twice is harmless
    }

    @Test("a server owns its loops: once run() returns after close(), they have stopped")
    func serverStopsItsLoops() async throws {
        let stores = try await TestStores.make(.memory)
        let useCases = ServerUseCases(directory: stores.clients, store: stores.messages, limits: ServerLimits(), clock: SystemWallClock())
        var logger = Logger(label: "rails")
        logger.logLevel = .critical
        let server = try await SeedServer.bind(
            configuration: SeedServerConfiguration(host: "127.0.0.1", port: 0, ioThreads: 2), useCases: useCases, logger: logger)
        let running = Task { try await server.run() }
        let reply = try Reply(try await RawClient.exchange(Requests.register("rails"), port: server.localAddress.port!))
        #expect(reply.code == 1000)
        #expect(!server.loopsStopped)
        server.close()
        try await running.value
        #expect(server.loopsStopped)
    }
}
