import Adapters
import Domain
import Foundation
import NIOCore
import SealpostWire
import Synchronization
import Testing

/// Two `sealpost serve` processes on one PostgreSQL schema serve v3 as one server
/// (docs/protocol-v3.md §6.2 "Several servers"): a message sent through one is pushed by the
/// other within 100 ms, and an account connected to both gets each message once in total.
@Suite("secure scale-out over PostgreSQL", .serialized, .enabled(if: StoreKind.available.contains(.postgres)))
struct SecureScaleOutTests {
    /// Two processes on a fresh schema, for `body`; both are stopped afterwards.
    static func withTwoServers(_ body: (SecureServerProcess, SecureServerProcess) async throws -> Void) async throws {
        let arguments = try ServerProcess.postgresArguments(schema: try await ServerProcess.freshPostgresSchema())
        let first = try await SecureServerProcess.start(arguments)
        let second: SecureServerProcess
        do {
            second = try await SecureServerProcess.start(arguments)
        } catch {
            _ = await first.terminate()
            throw error
        }
        do {
            try await body(first, second)
        } catch {
            _ = await first.terminate()
            _ = await second.terminate()
            throw error
        }
        #expect(await first.terminate() == 0)
        #expect(await second.terminate() == 0)
    }

    @Test("sent through process A, pushed by process B: every message arrives, the median within 100 ms")
    func pushedAcrossProcesses() async throws {
        try await Self.withTwoServers { a, b in
            let context = try V3Wire.makeContext()
            let alice = try V3TestAccount("alice")
            let bob = try V3TestAccount("bob")
            let sender = try await V3Wire.connect(port: a.port, fingerprint: a.fingerprint, context: context)
            _ = try await sender.register(alice)
            let recipient = try await V3Wire.connect(port: b.port, fingerprint: b.fingerprint, context: context)
            let bobID = try await recipient.register(bob)

            let clock = ContinuousClock()
            var latencies: [Duration] = []
            var missing = 0
            for index in 0..<50 {
                let id = UInt32(2 + index)
                try await sender.send(.send(recipient: bobID, envelope: ByteBuffer(string: "m\(index)")), id: id)
                guard case .result(_, let body) = try await sender.answer(to: id) else { throw ProbeError("SEND \(index) refused") }
                let sentAt = clock.now
                let messageID = try #require(body.getInteger(at: body.readerIndex, as: UInt64.self))
                // The delivery may even beat the RESULT: then its latency counts as zero.
                var delivered: V3Delivery?
                do {
                    while delivered == nil, let message = try await recipient.next(timeout: .seconds(5)) {
                        if case .delivery(let delivery) = message, delivery.messageID == messageID { delivered = delivery }
                    }
                } catch is V3WireTimeout {}
                guard let delivered else {
                    missing += 1
                    continue
                }
                latencies.append(max(.zero, clock.now - sentAt))
                #expect(delivered.envelope == ByteBuffer(string: "m\(index)"))
                try await recipient.send(.ack([messageID]), id: id)
            }
            let figures = Latencies(latencies)
            print("secure scale-out: SEND RESULT on A -> DELIVERY on B: \(figures)")
            #expect(missing == 0, "\(missing) of 50 messages never arrived through the other process")
            #expect(figures.p50 < .milliseconds(100), "median \(Latencies.ms(figures.p50))")
            await sender.close()
            await recipient.close()
        }
    }

    @Test("a recipient connected to both processes gets each message exactly once in total")
    func onceInTotalAcrossProcesses() async throws {
        try await Self.withTwoServers { a, b in
            let context = try V3Wire.makeContext()
            let alice = try V3TestAccount("alice")
            let carol = try V3TestAccount("carol")
            let sender = try await V3Wire.connect(port: a.port, fingerprint: a.fingerprint, context: context)
            _ = try await sender.register(alice)
            let first = try await V3Wire.connect(port: a.port, fingerprint: a.fingerprint, context: context)
            let carolID = try await first.register(carol)
            let second = try await V3Wire.connect(port: b.port, fingerprint: b.fingerprint, context: context)
            try await second.authenticate(carol, as: carolID)

            let total = 300
            let received = HostileClientTests.Shared<[UInt64: Int]>([:])
            let perSession = HostileClientTests.Shared<[Int]>([0, 0])
            // Each session acknowledges what it gets, as it gets it, and counts by message id.
            let readers = [first, second].enumerated().map { index, wire in
                Task {
                    var requestID: UInt32 = 100
                    while let message = try? await wire.next(timeout: .seconds(30)) {
                        guard case .delivery(let delivery) = message else { continue }
                        received.value.withLock { $0[delivery.messageID, default: 0] += 1 }
                        perSession.value.withLock { $0[index] += 1 }
                        requestID += 1
                        try? await wire.send(.ack([delivery.messageID]), id: requestID)
                    }
                }
            }
            // Pipelined, 50 at a time.
            var sent: Set<UInt64> = []
            for batch in stride(from: 0, to: total, by: 50) {
                let requests = (batch..<batch + 50).map { (UInt32(2 + $0), V3Request.send(recipient: carolID, envelope: ByteBuffer(string: "c\($0)"))) }
                try await sender.send(requests)
                for (id, _) in requests {
                    guard case .result(_, let body) = try await sender.answer(to: id) else { throw ProbeError("SEND \(id) refused") }
                    sent.insert(try #require(body.getInteger(at: body.readerIndex, as: UInt64.self)))
                }
            }
            #expect(sent.count == total)
            let complete = try await eventually(timeout: .seconds(20)) { received.value.withLock { Set($0.keys) } == sent }
            // Nothing is left waiting (every delivery was acknowledged) and nothing came twice.
            let storage = try await PostgresSchema.connect(try #require(Self.schema(of: a)))
            let drained = try await eventually(timeout: .seconds(10)) { try await storage.envelopes.waitingCount(for: carolID) == 0 }
            await storage.shutdown()
            let counts = received.value.withLock { $0 }
            let split = perSession.value.withLock { $0 }
            print("secure scale-out: \(total) messages to a recipient on both processes: \(split[0]) through A, \(split[1]) through B")
            #expect(complete, "\(Set(counts.keys).intersection(sent).count) of \(total) delivered")
            #expect(counts.values.allSatisfy { $0 == 1 }, "\(counts.values.filter { $0 > 1 }.count) messages delivered twice")
            #expect(Set(counts.keys).isSubset(of: sent))
            #expect(drained)
            for wire in [sender, first, second] { await wire.close() }
            for reader in readers { await reader.value }
        }
    }

    /// The schema in a server's `--postgres-url` options.
    static func schema(of server: SecureServerProcess) -> String? {
        guard let url = server.process.process.arguments?.first(where: { $0.hasPrefix("postgresql://") }),
              let range = url.range(of: "search_path%3D") else { return nil }
        return String(url[range.upperBound...])
    }
}
