import Adapters
import Domain
import Foundation
import NIOCore
import SealpostWire
import Testing

/// Authenticated v3 clients that misbehave inside TLS (garbage, a frame whose length lies, a
/// flood past maxInFlight, deliveries never read): each is answered as docs/protocol-v3.md §3
/// says, the server's memory stays bounded, and other sessions are served meanwhile.
/// (Misbehaviour before authentication is in `SecureChannelTests`.)
@Suite("secure hostile clients", .serialized)
struct SecureHostileClientTests {
    static func server(_ configuration: SecureServerConfiguration = SecureServerConfiguration(host: "127.0.0.1", port: 0, ioThreads: 1),
                       _ body: (SecureTestServer, @Sendable () async throws -> V3Wire) async throws -> Void) async throws {
        try await SecureAccountsTests.withServer(.memory, configuration: configuration) { server, _ in
            let context = try V3Wire.makeContext()
            let port = server.port
            let fingerprint = server.fingerprint
            try await body(server) { try await V3Wire.connect(port: port, fingerprint: fingerprint, context: context) }
        }
    }

    /// Reads until the server closes; returns the frames it sent before that, but for the
    /// NOTICE `caughtUp` each session gets once signed in (its inbox is empty).
    static func framesUntilClosed(_ wire: V3Wire, timeout: Duration = .seconds(10)) async throws -> [V3ServerMessage] {
        var frames: [V3ServerMessage] = []
        while let message = try await wire.next(timeout: timeout) {
            if message != .notice(.caughtUp) { frames.append(message) }
        }
        return frames
    }

    @Test("garbage inside TLS after authentication: ERROR malformed, then close; other sessions go on")
    func garbageAfterAuthentication() async throws {
        try await Self.server { server, connect in
            let bystander = try await connect()
            _ = try await bystander.register(V3TestAccount("bystander"))
            var generator = SystemRandomNumberGenerator()
            let noise = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }
            var frameOfOtherType = ByteBuffer()
            V3Frame(type: 0x80 | .random(in: 0...0x7F, using: &generator), requestID: 9, body: ByteBuffer(bytes: noise.prefix(40))).write(into: &frameOfOtherType)
            var sendWithNoise = ByteBuffer()
            V3Frame(type: 0x09, requestID: 9, body: ByteBuffer(bytes: noise.prefix(40))).write(into: &sendWithNoise)
            let garbage: [[UInt8]] = [
                // A length over maxFrameBytes, and noise after it.
                [0x80 | noise[0]] + noise.dropFirst(),
                // A well-framed frame of a server's type, and a SEND whose body is noise.
                Array(frameOfOtherType.readableBytesView),
                Array(sendWithNoise.readableBytesView),
            ]
            for (index, bytes) in garbage.enumerated() {
                let wire = try await connect()
                _ = try await wire.register(V3TestAccount("noisy\(index)"))
                try await wire.send(raw: bytes)
                let frames = try await Self.framesUntilClosed(wire)
                guard case .error(_, let error) = frames.last else { Issue.record("garbage \(index): \(frames)"); continue }
                #expect(error.knownCode == .malformed, "garbage \(index)")
                #expect(frames.count == 1, "garbage \(index): \(frames)")
                try await bystander.send(.ping, id: UInt32(10 + index))
                guard case .result = try await bystander.answer(to: UInt32(10 + index)) else { Issue.record("bystander not served"); return }
            }
            #expect(try await eventually { server.server.openConnections == 1 })
            await bystander.close()
        }
    }

    @Test("pipelined requests past maxInFlight: ERROR malformed, then close; other sessions go on")
    func floodPastMaxInFlight() async throws {
        try await Self.server { server, connect in
            let bystander = try await connect()
            _ = try await bystander.register(V3TestAccount("bystander"))
            let wire = try await connect()
            _ = try await wire.register(V3TestAccount("flood"))
            let limit = Int(wire.hello.maxInFlight)
            // COUNT_PREKEYS goes to the store, so each stays unanswered for a while; all are
            // written at once, far more than allowed.
            try await wire.send((0..<(limit * 8)).map { (UInt32(2 + $0), V3Request.countPrekeys) })
            let frames = try await Self.framesUntilClosed(wire)
            guard case .error(let id, let error) = frames.last else { Issue.record("\(frames.suffix(3))"); return }
            #expect(error.knownCode == .malformed)
            // The request that went past the limit is named.
            #expect(id > UInt32(1 + limit) && id <= UInt32(1 + limit * 8))
            #expect(frames.dropLast().allSatisfy { if case .result = $0 { true } else { false } })
            print("secure hostile: \(limit * 8) pipelined requests with maxInFlight \(limit): \(frames.count - 1) answered, then ERROR malformed for request \(id)")
            try await bystander.send(.ping, id: 2)
            guard case .result = try await bystander.answer(to: 2) else { Issue.record("bystander not served"); return }
            #expect(try await eventually { server.server.openConnections == 1 })
            await bystander.close()
        }
    }

    @Test("a client that never reads its deliveries gets deliveryWindow of them and no more; others keep their latency")
    func neverReadsDeliveries() async throws {
        var configuration = SecureServerConfiguration(host: "127.0.0.1", port: 0, ioThreads: 1)
        configuration.deliveryWindow = 16
        try await Self.server(configuration) { server, connect in
            let alice = try await connect()
            _ = try await alice.register(V3TestAccount("alice"))
            let stuck = try await connect()
            let stuckAccount = try V3TestAccount("stuck")
            let stuckID = try await stuck.register(stuckAccount)
            // The well-behaved pair.
            let carol = try await connect()
            _ = try await carol.register(V3TestAccount("carol"))
            let dave = try await connect()
            let daveID = try await dave.register(V3TestAccount("dave"))
            var nextID: UInt32 = 2
            let quiet = try await SecureIdleSessionsTests.roundTrips(50, from: carol, to: dave, bob: daveID, nextID: &nextID)

            // The stuck session stops reading; 400 envelopes of 32 KiB (12.5 MiB) wait for it.
            try await stuck.channel.setOption(.autoRead, value: false).get()
            let envelope = ByteBuffer(repeating: 0x5A, count: 32 * 1024)
            for batch in stride(from: 0, to: 400, by: 50) {
                let requests = (batch..<batch + 50).map { (UInt32(2 + $0), V3Request.send(recipient: stuckID, envelope: envelope)) }
                try await alice.send(requests)
                for (id, _) in requests {
                    guard case .result = try await alice.answer(to: id) else { throw ProbeError("SEND \(id) refused") }
                }
            }
            let busy = try await SecureIdleSessionsTests.roundTrips(50, from: carol, to: dave, bob: daveID, nextID: &nextID)
            print("secure hostile: round trip while a session does not read 12.5 MiB of deliveries: quiet \(quiet); then \(busy)")
            #expect(busy.p50 <= quiet.p50 * 3 + .milliseconds(5))

            // It reads again: the window's worth comes, then nothing more until it acknowledges
            // (a PING's RESULT comes after whatever the server wrote before it).
            try await stuck.channel.setOption(.autoRead, value: true).get()
            stuck.channel.read()
            func deliveries(_ count: Int) async throws -> [UInt64] {
                var ids: [UInt64] = []
                while ids.count < count, let message = try await stuck.next(timeout: .seconds(10)) {
                    if case .delivery(let delivery) = message { ids.append(delivery.messageID) }
                }
                return ids
            }
            func extraBeforePing(_ id: UInt32) async throws -> Int {
                try await stuck.send(.ping, id: id)
                var extra = 0
                _ = try await stuck.answer(to: id) { if case .delivery = $0 { extra += 1 } }
                return extra
            }
            let first = try await deliveries(16)
            #expect(first.count == 16)
            #expect(try await extraBeforePing(2) == 0, "deliveries past the window")
            try await stuck.send(.ack(first), id: 3)
            let second = try await deliveries(16)
            #expect(second.count == 16)
            #expect(Set(first).isDisjoint(with: second))
            #expect(try await extraBeforePing(4) == 0, "deliveries past the window")
            for wire in [alice, stuck, carol, dave] { await wire.close() }
            #expect(try await eventually { server.server.openConnections == 0 })
        }
    }

    @Test("frames whose length lies (claims 1 MiB, sends 1 KiB, stalls) are closed by the timeouts; the server's memory does not grow by the claims")
    func lyingLength() async throws {
        let directory = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try SecureServerProcess.config(#"{"server": {"secure": {"authTimeoutSeconds": 2, "idleTimeoutSeconds": 2}}}"#, in: directory)
        let server = try await SecureServerProcess.start(["--store", "memory"] + config)
        let context = try V3Wire.makeContext()
        let connect: @Sendable () async throws -> V3Wire = {
            try await V3Wire.connect(port: server.port, fingerprint: server.fingerprint, context: context)
        }
        let account = try V3TestAccount("liar")
        let setup = try await connect()
        let accountID = try await setup.register(account)
        await setup.close()
        let before = try server.residentBytes()

        // 100 sessions, half of them authenticated first: a frame head claiming 1 MiB (the
        // largest allowed), then 1 KiB of it, then nothing.
        let clock = ContinuousClock()
        let started = clock.now
        let claim = Int(V3Frame.defaultMaxLength)
        let lies = try await withThrowingTaskGroup(of: V3Wire.self) { group in
            for index in 0..<100 {
                group.addTask {
                    let wire = try await connect()
                    if index % 2 == 0 { try await wire.authenticate(account, as: accountID) }
                    var head = ByteBuffer()
                    head.writeInteger(UInt32(claim))
                    head.writeInteger(UInt8(0x09))
                    head.writeInteger(UInt32(7))
                    head.writeRepeatingByte(0x42, count: 1024)
                    try await wire.send(raw: Array(head.readableBytesView))
                    return wire
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let during = try server.residentBytes()
        // A well-behaved session is served meanwhile.
        let probe = try await connect()
        try await probe.authenticate(account, as: accountID)
        try await probe.send(.ping, id: 2)
        guard case .result = try await probe.answer(to: 2) else { Issue.record("not served"); return }
        var closedAfter: [Duration] = []
        for wire in lies {
            let frames = try await Self.framesUntilClosed(wire, timeout: .seconds(15))
            closedAfter.append(clock.now - started)
            #expect(frames.allSatisfy { if case .notice = $0 { true } else { false } }, "\(frames)")
        }
        await probe.close()
        let growth = during - before
        print("secure hostile: 100 frames claiming 1 MiB and sending 1 KiB: server RSS +\(growth / 1024) KiB; all closed after \(Latencies(closedAfter).max)")
        // Had the claims been allocated, 100 MiB.
        #expect(growth < 16 << 20, "RSS grew \(growth / 1024) KiB")
        #expect(Latencies(closedAfter).max < .seconds(10))
        #expect(await server.terminate() == 0)
    }
}
