import Adapters
import Domain
import Foundation
import NIOCore
import NIOPosix
import SealpostWire
import Testing

/// Ten thousand authenticated, idle v3 sessions on one `sealpost serve` process: each costs
/// the server at most 64 KiB, and a well-behaved client's SEND→DELIVERY round trip keeps its
/// latency.
@Suite("secure idle sessions", .serialized)
struct SecureIdleSessionsTests {
    static let sessions = 10_000
    static let accounts = 100

    @Test("10,000 idle authenticated sessions: at most 64 KiB each, and the round trip keeps its latency")
    func tenThousandIdle() async throws {
        // Each idle session holds a descriptor here and one in the server (which inherits the
        // limit set here).
        let limit = raiseOpenFileLimit(to: 20_000)
        guard limit >= Self.sessions + 1_500 else {
            print("secure idle sessions: SKIPPED: RLIMIT_NOFILE can only reach \(limit); \(Self.sessions + 1_500) are needed (raise the hard limit)")
            return
        }
        let directory = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try SecureServerProcess.config(#"{"server": {"secure": {"maxConnections": 12000, "authTimeoutSeconds": 300}}}"#, in: directory)
        let server = try await SecureServerProcess.start(["--store", "memory"] + config)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let context = try V3Wire.makeContext()
        let connect: @Sendable () async throws -> V3Wire = {
            try await V3Wire.connect(port: server.port, fingerprint: server.fingerprint, context: context, group: group)
        }

        // The well-behaved pair, and its round trip on a quiet server.
        let alice = try V3TestAccount("alice")
        let bob = try V3TestAccount("bob")
        let sender = try await connect()
        _ = try await sender.register(alice)
        let recipient = try await connect()
        let bobID = try await recipient.register(bob)
        var nextID: UInt32 = 2
        let quiet = try await Self.roundTrips(200, from: sender, to: recipient, bob: bobID, nextID: &nextID)
        let before = try server.residentBytes()

        // The idle crowd: a few accounts, many sessions each, opened 200 at a time.
        let idleAccounts = try (0..<Self.accounts).map { try V3TestAccount("idle\($0)") }
        var idleIDs: [AccountID] = []
        for account in idleAccounts {
            let wire = try await connect()
            idleIDs.append(try await wire.register(account))
            await wire.close()
        }
        // Connected (TLS and HELLO) first, then authenticated: the RSS between the two steps
        // tells the channel's share from the session's (its push delivery).
        let clock = ContinuousClock()
        let opening = clock.now
        let idle = try await Self.concurrently(Self.sessions) { _ in try await connect() }
        let connected = try server.residentBytes()
        let ids = idleIDs
        try await Self.concurrently(Self.sessions) { index in
            try await idle[index].authenticate(idleAccounts[index % Self.accounts], as: ids[index % Self.accounts])
        }
        let openedIn = clock.now - opening
        let after = try server.residentBytes()
        let busy = try await Self.roundTrips(200, from: sender, to: recipient, bob: bobID, nextID: &nextID)
        // Still open and served: the idle sessions answer a PING.
        var pinged = 0
        for wire in idle.prefix(20) {
            try await wire.send(.ping, id: 2)
            if case .result = try await wire.answer(to: 2) { pinged += 1 }
        }

        let perSession = (after - before) / Self.sessions
        print("secure idle sessions: \(idle.count) connected and authenticated in \(openedIn); server RSS \(before / 1024) KiB -> \(connected / 1024) KiB connected -> \(after / 1024) KiB authenticated: \(perSession) bytes per idle session (\((connected - before) / Self.sessions) for TLS and the channel, \((after - connected) / Self.sessions) for the authenticated session)")
        print("secure idle sessions: SEND->DELIVERY quiet \(quiet); with \(idle.count) idle \(busy)")
        #expect(idle.count == Self.sessions)
        #expect(pinged == 20)
        #expect(perSession <= 64 * 1024, "\(perSession) bytes per idle session")
        #expect(busy.p50 <= quiet.p50 * 3 + .milliseconds(2), "p50 \(Latencies.ms(busy.p50)) with idle sessions, \(Latencies.ms(quiet.p50)) without")

        await withTaskGroup(of: Void.self) { closing in
            for wire in idle + [sender, recipient] { closing.addTask { await wire.close() } }
        }
        #expect(await server.terminate() == 0)
        try await group.shutdownGracefully()
    }

    /// Runs `body` for 0..<count, 200 at a time; returns the results in order.
    @discardableResult
    static func concurrently<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) async throws -> T) async throws -> [T] {
        try await withThrowingTaskGroup(of: (Int, T).self) { tasks in
            var results = [T?](repeating: nil, count: count)
            for index in 0..<count {
                if index >= 200, let (done, result) = try await tasks.next() { results[done] = result }
                tasks.addTask { (index, try await body(index)) }
            }
            for try await (done, result) in tasks { results[done] = result }
            return results.map { $0! }
        }
    }

    /// `count` SENDs from `sender` to `recipient` (`bob`), one at a time: each from the SEND
    /// written to its DELIVERY read, then acknowledged.
    static func roundTrips(_ count: Int, from sender: V3Wire, to recipient: V3Wire, bob: AccountID, nextID: inout UInt32) async throws -> Latencies {
        let clock = ContinuousClock()
        var samples: [Duration] = []
        for index in 0..<count {
            let id = nextID
            nextID += 1
            let started = clock.now
            try await sender.send(.send(recipient: bob, envelope: ByteBuffer(string: "rt\(index)")), id: id)
            var delivery: V3Delivery?
            while delivery == nil, let message = try await recipient.next() {
                if case .delivery(let pushed) = message { delivery = pushed }
            }
            samples.append(clock.now - started)
            guard let delivery else { throw ProbeError("the recipient's session closed") }
            guard case .result = try await sender.answer(to: id) else { throw ProbeError("SEND refused") }
            try await recipient.send(.ack([delivery.messageID]), id: id)
        }
        return Latencies(samples)
    }
}
