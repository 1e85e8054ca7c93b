import Adapters
import Domain
import Foundation
import NIOCore
import SeedWire
import Synchronization

/// The text workload of `sealpost bench`, the same as the shared loadgen's: register N
/// clients one after another, W workers send text messages between random pairs for S
/// seconds (one request per connection), then every inbox is drained and each delivered
/// message is checked against what was sent.
struct BenchWorkload: Sendable {
    let address: BlockingSeedAddress
    let clients: Int
    let workers: Int
    let seconds: Double
    let bodySize: Int
    let version: UInt8

    /// The loadgen's fixed 160-byte RSA-1024 (e = 17) public key.
    static let publicKeyHex = "30819d300d06092a864886f70d010101050003818b0030818702818100f70e1a1961fad7df8f376a4d66841315f5effb5e6e7c768f2d6ad1b6f318c10efd711802ae089cabc952e5076f2482341563ca119367e73e659ac9ea367abcb693b04132c025188b52ef534b69eefc4657336d9f96c59cc7dbc1edfe593a34d940adb688811ca148c3c012dd76d4c305a3b73f101fc54818e581548cc618c7e7020103"

    /// What one send recorded: enough to recognise the message when it is pulled.
    struct Sent: Sendable {
        var recipient: Int32
        var sender: Int32
        var hash: UInt64
        var acknowledged: Bool
    }

    /// One message as pulled, reduced to what verification needs.
    struct Delivered: Sendable {
        var recipient: Int32
        var sender: Int32
        var type: UInt8
        var worker: UInt64
        var sequence: UInt64
        var hash: UInt64
    }

    struct SendResult: Sendable {
        var latencies: [UInt32] = []
        var errors = 0
        var sent: [Sent] = []
        var firstError: String?
    }

    struct DrainResult: Sendable {
        var latencies: [UInt32] = []
        var errors = 0
        var delivered: [Delivered] = []
        var firstError: String?
    }

    /// The outcome of verifying every delivered message against every send.
    struct Verdict: Sendable {
        var delivered = 0
        var lost = 0
        var duplicated = 0
        var corrupted = 0
        /// Sends that failed on our side but whose message the server did store: allowed.
        var unacknowledgedDelivered = 0
    }

    /// Phase 1: registers the clients one at a time, as the loadgen does.
    func register(tag: String) throws -> (ids: [ClientID], latencies: BenchLatencies) {
        let key = Self.bytes(hex: Self.publicKeyHex)
        var ids: [ClientID] = []
        var latencies: [UInt32] = []
        let start = benchMicros()
        for index in 0..<clients {
            let request = SeedClientRequest.register(nameBytes: Array("sb\(tag)n\(index)".utf8), publicKey: key, version: version)
            let begin = benchMicros()
            let socket = try BlockingSeedSocket(connectingTo: address)
            try socket.write(request)
            let (code, payload) = try socket.readResponse()
            guard code == SeedResponseCode.registered.rawValue, let id = try? SeedReply.registered(ByteBuffer(bytes: payload)) else {
                throw BenchFailure("register \(index): code \(code), payload \(payload.count) bytes")
            }
            latencies.append(UInt32(clamping: benchMicros() - begin))
            ids.append(id)
        }
        let seconds = Double(benchMicros() - start) / 1e6
        return (ids, BenchLatencies(micros: latencies, errors: 0, seconds: seconds))
    }

    /// Phase 2: W workers send for `seconds`.
    func send(ids: [ClientID], seed: UInt64) -> (results: [SendResult], seconds: Double) {
        let stop = BenchFlag()
        let start = benchMicros()
        let timer = Thread { [seconds] in
            Thread.sleep(forTimeInterval: seconds)
            stop.raise()
        }
        timer.start()
        let results = benchRunThreads(workers) { worker in
            sendLoop(worker: worker, ids: ids, seed: seed, stop: stop)
        }
        return (results, Double(benchMicros() - start) / 1e6)
    }

    private func sendLoop(worker: Int, ids: [ClientID], seed: UInt64, stop: BenchFlag) -> SendResult {
        var random = BenchRandom(state: 0x9E37_79B9_7F4A_7C15 ^ ((UInt64(worker) + 1) &* 0x1234567) ^ seed)
        var result = SendResult()
        result.latencies.reserveCapacity(1 << 16)
        result.sent.reserveCapacity(1 << 16)
        let body = max(bodySize, 16)
        // One request buffer per worker, rewritten in place for every send.
        let bodyStart = SeedClientRequest.sendContentOffset
        var request = [UInt8](repeating: 0, count: bodyStart + body)
        var sequence: UInt64 = 0
        let count = ids.count
        while !stop.isRaised {
            let from = Int(random.next() % UInt64(count))
            var to = Int(random.next() % UInt64(count))
            if to == from { to = (to + 1) % count }
            request.withUnsafeMutableBytes { raw in
                SeedClientRequest.writeSendHead(
                    type: MessageKind.text.rawValue, contentSize: UInt32(body), to: ids[to], from: ids[from], version: version, into: raw)
            }
            Self.store(sequence, into: &request, at: bodyStart)
            Self.store(UInt64(worker), into: &request, at: bodyStart + 8)
            for index in (bodyStart + 16)..<request.count {
                request[index] = UInt8(truncatingIfNeeded: random.next())
            }
            let hash = benchFNV(request[bodyStart...])
            sequence += 1
            let begin = benchMicros()
            var acknowledged = false
            do {
                let socket = try BlockingSeedSocket(connectingTo: address)
                try socket.write(request)
                let (code, payload) = try socket.readResponse()
                if code == SeedResponseCode.sent.rawValue, payload.count == 20 {
                    acknowledged = true
                } else if result.firstError == nil {
                    result.firstError = "send: code \(code)"
                }
            } catch {
                if result.firstError == nil { result.firstError = "send: \(error)" }
            }
            if acknowledged {
                result.latencies.append(UInt32(clamping: benchMicros() - begin))
            } else {
                result.errors += 1
            }
            result.sent.append(Sent(recipient: Int32(to), sender: Int32(from), hash: hash, acknowledged: acknowledged))
        }
        return result
    }

    /// Phase 3: every inbox is pulled until empty, the inboxes split among the workers.
    func drain(ids: [ClientID]) -> (results: [DrainResult], seconds: Double) {
        var index: [ClientID: Int32] = [:]
        for (position, id) in ids.enumerated() { index[id] = Int32(position) }
        let senders = index
        let start = benchMicros()
        let results = benchRunThreads(workers) { worker in
            var result = DrainResult()
            var recipient = worker
            while recipient < ids.count {
                drainInbox(recipient, ids: ids, senders: senders, into: &result)
                recipient += workers
            }
            return result
        }
        return (results, Double(benchMicros() - start) / 1e6)
    }

    private func drainInbox(_ recipient: Int, ids: [ClientID], senders: [ClientID: Int32], into result: inout DrainResult) {
        let request = SeedClientRequest.pull(requester: ids[recipient], version: version)
        while true {
            let begin = benchMicros()
            let reply: (code: UInt16, payload: [UInt8])
            do {
                let socket = try BlockingSeedSocket(connectingTo: address)
                try socket.write(request)
                reply = try socket.readResponse()
            } catch {
                result.errors += 1
                if result.firstError == nil { result.firstError = "pull: \(error)" }
                return
            }
            guard reply.code == SeedResponseCode.messages.rawValue else {
                result.errors += 1
                if result.firstError == nil { result.firstError = "pull: code \(reply.code)" }
                return
            }
            result.latencies.append(UInt32(clamping: benchMicros() - begin))
            if reply.payload.isEmpty { return }
            guard Self.parse(reply.payload, recipient: Int32(recipient), senders: senders, into: &result.delivered) else {
                result.errors += 1
                if result.firstError == nil { result.firstError = "pull: malformed 1004 payload" }
                return
            }
        }
    }

    /// Splits a 1004 payload into messages with the codec; false when it is malformed.
    static func parse(_ payload: [UInt8], recipient: Int32, senders: [ClientID: Int32], into delivered: inout [Delivered]) -> Bool {
        payload.withUnsafeBytes { raw in
            do {
                try SeedReply.messages(raw) { entry, body in
                    let marked = body.count >= 16
                    delivered.append(Delivered(
                        recipient: recipient, sender: senders[entry.sender] ?? -1, type: entry.type,
                        worker: marked ? UInt64(littleEndian: body.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) : .max,
                        sequence: marked ? UInt64(littleEndian: body.loadUnaligned(as: UInt64.self)) : .max,
                        hash: benchFNV(body)))
                }
                return true
            } catch {
                return false
            }
        }
    }

    /// Matches every delivered message to its send by the (worker, sequence) it carries.
    static func verify(sent: [[Sent]], delivered: [Delivered]) -> Verdict {
        var verdict = Verdict()
        var seen = sent.map { [UInt8](repeating: 0, count: $0.count) }
        for message in delivered {
            verdict.delivered += 1
            guard message.type == 3, message.worker < UInt64(sent.count),
                  message.sequence < UInt64(sent[Int(message.worker)].count)
            else {
                verdict.corrupted += 1
                continue
            }
            let worker = Int(message.worker), sequence = Int(message.sequence)
            let expected = sent[worker][sequence]
            guard expected.recipient == message.recipient, expected.sender == message.sender, expected.hash == message.hash else {
                verdict.corrupted += 1
                continue
            }
            if seen[worker][sequence] > 0 {
                verdict.duplicated += 1
            } else if !expected.acknowledged {
                verdict.unacknowledgedDelivered += 1
            }
            seen[worker][sequence] &+= 1
        }
        for (worker, records) in sent.enumerated() {
            for (sequence, record) in records.enumerated() where record.acknowledged && seen[worker][sequence] == 0 {
                verdict.lost += 1
            }
        }
        return verdict
    }

    static func bytes(hex: String) -> [UInt8] {
        let digits = Array(hex.utf8)
        return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(decoding: digits[$0...$0 + 1], as: UTF8.self), radix: 16)! }
    }

    static func store<T: FixedWidthInteger>(_ value: T, into bytes: inout [UInt8], at offset: Int) {
        for index in 0..<MemoryLayout<T>.size {
            bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index))
        }
    }
}

/// A stop signal shared by the timer and the workers.
final class BenchFlag: Sendable {
    private let raised = Atomic<Bool>(false)
    func raise() { raised.store(true, ordering: .relaxed) }
    var isRaised: Bool { raised.load(ordering: .relaxed) }
}

/// A benchmark step that could not be carried out.
struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension BlockingSeedSocket {
    /// Writes a request the codec built.
    func write(_ request: ByteBuffer) throws {
        try request.withUnsafeReadableBytes { (raw) in try write(raw) }
    }
}
