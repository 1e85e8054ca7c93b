import Adapters
import Domain
import Foundation
import NIOCore
import SealpostWire
import Synchronization
import Testing

/// A v3 SEND's RESULT means stored (docs/protocol-v3.md §5.9): `kill -9` in the middle of
/// pipelined sends loses no acknowledged message, and after the restart each is delivered
/// once, and deleted by its ACK.
@Suite("secure crash durability", .serialized)
struct SecureCrashDurabilityTests {
    static var durableKinds: [StoreKind] { StoreKind.available.filter { $0 != .memory } }

    @Test("acknowledged SENDs survive kill -9 and are delivered exactly once after the restart", arguments: durableKinds)
    func killNineUnderLoad(_ kind: StoreKind) async throws {
        let directory = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let arguments = try await ServerProcess.storeArguments(kind, directory: directory)
        let context = try V3Wire.makeContext()

        var server = try await SecureServerProcess.start(arguments)
        let bob = try V3TestAccount("bob")
        let setup = try await V3Wire.connect(port: server.port, fingerprint: server.fingerprint, context: context)
        let bobID = try await setup.register(bob)
        await setup.close()
        let senders = try await (0..<4).asyncMap { index in
            let account = try V3TestAccount("sender\(index)")
            let wire = try await V3Wire.connect(port: server.port, fingerprint: server.fingerprint, context: context)
            _ = try await wire.register(account)
            return wire
        }

        // Each sender keeps 32 SENDs in flight; an envelope names its sender and sequence.
        let log = SendLog()
        let load = Task {
            await withTaskGroup(of: Void.self) { group in
                for (worker, wire) in senders.enumerated() {
                    group.addTask {
                        var pending: [UInt32: String] = [:]
                        var nextID: UInt32 = 2
                        func sendOne() async throws {
                            let text = "w\(worker)-\(nextID)"
                            log.attempted.withLock { _ = $0.insert(text) }
                            pending[nextID] = text
                            try await wire.send(.send(recipient: bobID, envelope: ByteBuffer(string: text)), id: nextID)
                            nextID += 1
                        }
                        do {
                            for _ in 0..<32 { try await sendOne() }
                            while let message = try await wire.next(timeout: .seconds(30)) {
                                guard case .result(let id, let body) = message, let text = pending.removeValue(forKey: id),
                                      let messageID = body.getInteger(at: body.readerIndex, as: UInt64.self) else { continue }
                                log.acknowledged.withLock { $0[messageID] = text }
                                try await sendOne()
                            }
                        } catch {}
                    }
                }
            }
        }
        let piledUp = try await eventually(timeout: .seconds(30)) { log.acknowledged.withLock { $0.count } >= 1_000 }
        #expect(piledUp, "only \(log.acknowledged.withLock { $0.count }) sends were acknowledged")
        await server.kill9()
        await load.value
        let acknowledged = log.acknowledged.withLock { $0 }
        let attempted = log.attempted.withLock { $0 }
        for wire in senders { await wire.close() }

        server = try await SecureServerProcess.start(arguments)
        // A last message after the restart: ids rise in storing order and delivery goes oldest
        // first, so once it arrives everything stored before it has been delivered.
        let alice = try V3TestAccount("alice")
        let aliceWire = try await V3Wire.connect(port: server.port, fingerprint: server.fingerprint, context: context)
        _ = try await aliceWire.register(alice)
        func sendMarker(_ text: String, id: UInt32) async throws -> UInt64 {
            try await aliceWire.send(.send(recipient: bobID, envelope: ByteBuffer(string: text)), id: id)
            guard case .result(_, let body) = try await aliceWire.answer(to: id) else { throw ProbeError("marker refused") }
            return try #require(body.getInteger(at: body.readerIndex, as: UInt64.self))
        }
        let marker = try await sendMarker("marker", id: 2)

        var delivered: [UInt64: String] = [:]
        var duplicates = 0
        let recipient = try await V3Wire.connect(port: server.port, fingerprint: server.fingerprint, context: context)
        try await recipient.authenticate(bob, as: bobID)
        var requestID: UInt32 = 2
        var sawMarker = false
        var unanswered: Set<UInt32> = []
        // Until the marker came and every ACK was answered.
        while !sawMarker || !unanswered.isEmpty, let message = try await recipient.next(timeout: .seconds(20)) {
            switch message {
            case .delivery(let delivery):
                if delivery.messageID == marker {
                    sawMarker = true
                } else if delivered.updateValue(String(buffer: delivery.envelope), forKey: delivery.messageID) != nil {
                    duplicates += 1
                }
                requestID += 1
                unanswered.insert(requestID)
                try await recipient.send(.ack([delivery.messageID]), id: requestID)
            case .result(let id, _):
                unanswered.remove(id)
            default:
                break
            }
        }
        await recipient.close()

        // Acknowledged means deleted: a new session gets only a new marker.
        let again = try await V3Wire.connect(port: server.port, fingerprint: server.fingerprint, context: context)
        try await again.authenticate(bob, as: bobID)
        let second = try await sendMarker("marker 2", id: 3)
        var after: [UInt64] = []
        while let message = try await again.next(timeout: .seconds(20)) {
            guard case .delivery(let delivery) = message else { continue }
            after.append(delivery.messageID)
            if delivery.messageID == second { break }
        }
        await again.close()
        await aliceWire.close()
        #expect(await server.terminate() == 0)

        let lost = Set(acknowledged.keys).subtracting(delivered.keys)
        let unacknowledgedDelivered = delivered.count - Set(delivered.keys).intersection(acknowledged.keys).count
        print("secure kill -9 [\(kind)]: \(attempted.count) SENDs written, \(acknowledged.count) acknowledged, \(delivered.count) delivered after the restart (\(unacknowledgedDelivered) of them unacknowledged when the server died), \(lost.count) acknowledged lost, \(duplicates) duplicates")
        #expect(sawMarker)
        #expect(acknowledged.count >= 1_000)
        #expect(lost.isEmpty, "\(lost.count) acknowledged sends lost")
        #expect(duplicates == 0)
        // Each acknowledged id carries the envelope that was sent under it.
        #expect(acknowledged.allSatisfy { delivered[$0.key] == nil || delivered[$0.key] == $0.value })
        // Nothing delivered that was never sent.
        #expect(Set(delivered.values).isSubset(of: attempted))
        #expect(after == [second], "after the ACKs a new session got \(after)")
    }
}

/// What the senders tried, and the message ids whose RESULT came back.
private final class SendLog: Sendable {
    let acknowledged = Mutex<[UInt64: String]>([:])
    let attempted = Mutex<Set<String>>([])
}

extension Sequence {
    /// `transform` on each element in turn.
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
