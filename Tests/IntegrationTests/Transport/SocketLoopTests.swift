@testable import Adapters
import CLinuxNet
import Foundation
import Glibc
import Synchronization
import Testing

/// The epoll loop's safety rails, without a server: registrations, stale events, checked calls.
@Suite("Transport: the socket loop's rails")
struct SocketLoopTests {
    /// A handler that records its calls; `onReady` runs inside `ready`, on the loop.
    final class Recorder: SocketLoopHandler, @unchecked Sendable {
        let name: String
        var onReady: ((Recorder) -> Void)?
        let calls: Calls
        init(_ name: String, calls: Calls = Calls()) {
            self.name = name
            self.calls = calls
        }
        func ready(_ events: UInt32) {
            calls.list.withLock { $0.append(name) }
            onReady?(self)
        }
        func sweep(now: UInt64) {}
    }

    final class Calls: Sendable {
        let list = Mutex<[String]>([])
    }

    static func pair() -> (Int32, Int32) {
        var fds: [Int32] = [0, 0]
        precondition(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0)
        return (fds[0], fds[1])
    }

    /// Runs `body` on `loop` and waits for it.
    static func onLoop<T: Sendable>(_ loop: SocketLoop, _ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in loop.execute { continuation.resume(returning: body()) } }
    }

    @Test("an event left in the batch for a descriptor closed and reused by a newer registration is dropped, not handed to the new handler")
    func staleEventsAreDropped() async throws {
        let loop = SocketLoop(name: "test-loop")
        let (a, aPeer) = Self.pair()
        let (b, bPeer) = Self.pair()
        let calls = Calls()
        let newcomer = Recorder("newcomer", calls: calls)
        let replaced = Mutex<Int32?>(nil)
        // Whichever of A and B is handed its event first closes the other one and puts a
        // fresh, never readable socket on the other's descriptor number, registered anew.
        // The other's event is still in the same batch: it must not reach the newcomer.
        let first = Recorder("a", calls: calls), second = Recorder("b", calls: calls)
        let takeOver: @Sendable (Int32) -> Void = { victim in
            guard replaced.withLock({ $0 == nil }) else { return }
            replaced.withLock { $0 = victim }
            loop.forget(victim, removeFromEpoll: false)
            let (fresh, _) = Self.pair()
            precondition(dup2(fresh, victim) == victim)
            close(fresh)
            precondition(loop.register(victim, events: sealpost_epoll_in(), handler: newcomer))
        }
        // Each reads its byte, so that a level-triggered event does not come back.
        first.onReady = { (_: Recorder) in var byte: UInt8 = 0; _ = recv(a, &byte, 1, 0); takeOver(b) }
        second.onReady = { (_: Recorder) in var byte: UInt8 = 0; _ = recv(b, &byte, 1, 0); takeOver(a) }
        let registered = await Self.onLoop(loop) {
            loop.register(a, events: sealpost_epoll_in(), handler: first) && loop.register(b, events: sealpost_epoll_in(), handler: second)
        }
        #expect(registered)
        // Both readable before the loop next waits: one batch holds both events.
        await Self.onLoop(loop) {
            var byte: UInt8 = 1
            _ = send(aPeer, &byte, 1, 0)
            _ = send(bPeer, &byte, 1, 0)
        }
        try await eventually(every: .milliseconds(10)) { !calls.list.withLock { $0.isEmpty } }
        // Let further turns run: nothing may reach the newcomer, whose socket is never readable.
        let dropped = await Self.onLoop(loop) { loop.staleEventsDropped }
        let seen = calls.list.withLock { $0 }
        #expect(seen.count == 1, "calls: \(seen)")
        #expect(!seen.contains("newcomer"))
        #expect(dropped == 1)
        for fd in [a, b, aPeer, bPeer] { close(fd) }
    }

    @Test("epoll refusals are reported: modifying or watching a descriptor that is not registered fails with EBADF")
    func refusalsAreReported() async {
        let loop = SocketLoop(name: "test-loop")
        let (a, peer) = Self.pair()
        let results = await Self.onLoop(loop) { () -> [Bool] in
            let modify = loop.modify(a, events: sealpost_epoll_in())
            let watch = loop.watch(a, events: sealpost_epoll_in())
            let register = loop.register(a, events: sealpost_epoll_in(), handler: Recorder("a"))
            // Registered twice: epoll refuses (EEXIST), and the call says so.
            let again = loop.register(a, events: sealpost_epoll_in(), handler: Recorder("a2"))
            return [modify, watch, register, again]
        }
        #expect(results == [false, false, true, false])
        close(a)
        close(peer)
    }

    @Test("loop-only methods stop the process when called off the loop")
    func loopOnlyMethodsAreChecked() async {
        await #expect(processExitsWith: .failure) { () async in
            let loop = SocketLoop(name: "test-loop")
            _ = loop.register(0, events: sealpost_epoll_in(), handler: Recorder("x"))
        }
    }
}
