import Adapters
import Application
import Domain
import Foundation
import Testing

/// Rough numbers for the client's v3 adapter against the real server on one machine; run
/// only when SEALPOST_MEASURE is set (they measure, they do not check).
@Suite("v3 client adapter, measurements", .serialized, .enabled(if: ProcessInfo.processInfo.environment["SEALPOST_MEASURE"] != nil))
struct AccountConnectionMeasurements {
    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
    }

    @Test("PING round trips, pipelined PINGs, SEND → push → ACK", arguments: [StoreKind.memory, .sqlite])
    func measure(_ kind: StoreKind) async throws {
        try await SecureAccountsTests.withServer(kind) { server, _ in
            let clock = ContinuousClock()
            let aliceKeys = try AccountKeys.generate(oneTimePrekeyIDs: [])
            let bobKeys = try AccountKeys.generate(oneTimePrekeyIDs: [])
            let alice = try await AccountConnectionServerTests.connect(server)
            let bob = try await AccountConnectionServerTests.connect(server)
            let aliceID = try await AccountConnectionServerTests.register("alice", aliceKeys, on: alice)
            _ = try await AccountConnectionServerTests.register("bob", bobKeys, on: bob)

            let sequential = 2_000
            let started = clock.now
            for _ in 0..<sequential { try await bob.ping() }
            let roundTrip = Self.seconds(clock.now - started) / Double(sequential)

            let pipelined = 20_000
            let pipelineStart = clock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<64 { group.addTask { for _ in 0..<(pipelined / 64) { try await bob.ping() } } }
                try await group.waitForAll()
            }
            let pingRate = Double(pipelined / 64 * 64) / Self.seconds(clock.now - pipelineStart)

            let messages = 5_120
            let envelope = [UInt8](repeating: 0x5A, count: 1024)
            let sendStart = clock.now
            async let received: Int = {
                var events = alice.events.makeAsyncIterator()
                var count = 0
                var batch: [UInt64] = []
                while count < messages, let event = try await events.next() {
                    guard case .delivery(let delivery) = event else { continue }
                    count += 1
                    batch.append(delivery.messageID)
                    if batch.count == 128 || count == messages {
                        let ids = batch
                        batch = []
                        _ = try await alice.acknowledge(ids)
                    }
                }
                return count
            }()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<32 {
                    group.addTask { for _ in 0..<(messages / 32) { _ = try await bob.send(envelope, to: aliceID) } }
                }
                try await group.waitForAll()
            }
            let sent = messages / 32 * 32
            let sendDone = clock.now
            #expect(try await received >= sent)
            let endToEnd = Double(sent) / Self.seconds(clock.now - sendStart)
            let sendRate = Double(sent) / Self.seconds(sendDone - sendStart)
            print("""
                measure v3 client [\(kind)]: PING round trip \(String(format: "%.0f", roundTrip * 1e6)) µs (\(sequential) sequential); \
                \(String(format: "%.0f", pingRate)) PING/s pipelined (64 tasks); \
                SEND 1 KiB \(String(format: "%.0f", sendRate)) /s (32 tasks), delivered and acknowledged \(String(format: "%.0f", endToEnd)) /s
                """)
            await alice.close()
            await bob.close()
        }
    }
}
