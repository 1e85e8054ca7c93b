import Adapters
import Application
import Domain
import Foundation
import NIOCore
import SealpostWire
import Synchronization
import Testing

/// The client's v3 adapter over real TLS against a scripted server: pipelining, errors,
/// pushes, a malicious server's frames, and reconnection.
@Suite("v3 client adapter, scripted server", .timeLimit(.minutes(1)))
struct AccountConnectionScriptedTests {
    /// Connects a pinned client; the server side sends HELLO with `maxInFlight` and `maxEnvelopeBytes`.
    static func open(
        _ server: ScriptedV3Server, maxInFlight: UInt16 = 256, maxEnvelopeBytes: UInt32 = 65_536, idleTimeoutSeconds: UInt16 = 300
    ) async throws -> (client: SecureAccountConnection, peer: ScriptedV3Connection, nonce: [UInt8]) {
        async let client = SecureAccountConnection.connect(host: "127.0.0.1", port: server.port, verification: .pinned(server.fingerprint))
        let peer = try await server.accept()
        let nonce = try await peer.sendHello(maxInFlight: maxInFlight, idleTimeoutSeconds: idleTimeoutSeconds, maxEnvelopeBytes: maxEnvelopeBytes)
        return (try await client, peer, nonce)
    }

    static func account(_ byte: UInt8) -> AccountID { AccountID(bytes: [UInt8](repeating: byte, count: 16))! }

    static func refusal(_ body: () async throws -> Void) async -> AccountServerError? {
        do {
            try await body()
            return nil
        } catch let error as AccountServerError {
            return error
        } catch {
            Issue.record("not an AccountServerError: \(error)")
            return nil
        }
    }

    @Test("three requests in flight at once, answered in reverse order, with a DELIVERY, a NOTICE and an ignorable 0x65 frame between")
    func pipelining() async throws {
        let bob = try AccountKeys.generate(oneTimePrekeyIDs: [])
        try await ScriptedV3Server.with { server in
            let (client, peer, _) = try await Self.open(server)
            async let count = client.countPrekeys()
            async let found = client.lookup(name: try AccountName("bob"))
            async let pinged: Void = client.ping()
            // All three arrive before any is answered: they were pipelined.
            var requests: [(id: UInt32, request: V3Request)] = []
            for _ in 0..<3 { requests.append(try await peer.request()) }
            #expect(Set(requests.map(\.id)).count == 3)
            #expect(!requests.map(\.id).contains(0))
            for (index, (id, request)) in requests.reversed().enumerated() {
                switch request {
                case .countPrekeys: try await peer.sendResult(.prekeyCount(42), to: id)
                case .lookup(let name):
                    #expect(name == "bob")
                    try await peer.sendResult(.account(Self.account(0xB0), name: "bob", identity: bob.identity), to: id)
                case .ping: try await peer.sendResult(.done, to: id)
                default: Issue.record("unexpected \(request)")
                }
                switch index {
                case 0:
                    try await peer.send(.delivery(V3Delivery(messageID: 77, sender: Self.account(0xB0), serverTime: 1_700_000_000_000, envelope: ByteBuffer(bytes: [9, 8, 7]))))
                case 1:
                    var frame = ByteBuffer()
                    V3Frame(type: 0x65, requestID: 12345, body: ByteBuffer(bytes: [1, 2, 3, 4, 5])).write(into: &frame)
                    try await peer.sendRaw(frame)
                    try await peer.send(.notice(.unknown(kind: 999)))
                    try await peer.send(.notice(.prekeysLow(count: 3)))
                default: break
                }
            }
            #expect(try await count == 42)
            let account = try await found
            #expect(account.id == Self.account(0xB0) && account.name.value == "bob" && account.identity == bob.identity)
            try await pinged
            var events = client.events.makeAsyncIterator()
            #expect(try await events.next() == .delivery(IncomingEnvelope(messageID: 77, sender: Self.account(0xB0), serverTime: 1_700_000_000_000, envelope: [9, 8, 7])))
            #expect(try await events.next() == .prekeysLow(count: 3))
            // The session goes on.
            async let again = client.countPrekeys()
            let (id, _) = try await peer.request()
            try await peer.sendResult(.prekeyCount(41), to: id)
            #expect(try await again == 41)
            await client.close()
            #expect(try await events.next() == nil)
            #expect(try await peer.receive() == nil)
        }
    }

    @Test("ERROR becomes AccountServerError.refused with its code, retry-after and message; the session goes on")
    func errors() async throws {
        try await ScriptedV3Server.with { server in
            let (client, peer, _) = try await Self.open(server, maxEnvelopeBytes: 100)
            let cases: [(V3Error, AccountServerErrorCode, Duration?, String)] = [
                (V3Error(.inboxFull, retryAfterMilliseconds: 1500, message: "inbox at its cap"), .inboxFull, .milliseconds(1500), "inbox is full, retry in 1.5 s"),
                (V3Error(.rateLimited, retryAfterMilliseconds: 3000, message: "slow down"), .rateLimited, .seconds(3), "rate-limited, retry in 3 s"),
                (V3Error(.noSuchAccount, message: "no such account"), .noSuchAccount, nil, "no such account"),
                (V3Error(rawCode: 99, retryAfterMilliseconds: 0, message: "new"), .other(99), nil, "error 99"),
            ]
            for (wire, code, retryAfter, words) in cases {
                async let error = Self.refusal { _ = try await client.send([1, 2, 3], to: Self.account(0x22)) }
                let (id, request) = try await peer.request()
                #expect(request == .send(recipient: Self.account(0x22), envelope: ByteBuffer(bytes: [1, 2, 3])))
                try await peer.send(.error(requestID: id, wire))
                let refused = await error
                #expect(refused == .refused(code, retryAfter: retryAfter, message: wire.message))
                #expect(refused?.description.contains(words) == true, "\(refused.map { "\($0)" } ?? "")")
                #expect(refused?.code?.rawValue == wire.code)
            }
            // Refused here, before anything is sent: the next frame the server sees is the PING.
            let tooLarge = await Self.refusal { _ = try await client.send([UInt8](repeating: 1, count: 101), to: Self.account(0x22)) }
            #expect(tooLarge == .invalidRequest("an envelope of 101 bytes is over the server's limit of 100"))
            let tooMany = await Self.refusal { _ = try await client.uploadPrekeys([]) }
            #expect(tooMany != nil && tooMany?.isRetryable == false)
            async let pinged: Void = client.ping()
            let (id, request) = try await peer.request()
            #expect(request == .ping)
            try await peer.sendResult(.done, to: id)
            try await pinged
            await client.close()
        }
    }

    @Test("no more than HELLO's maxInFlight requests are unanswered; the others wait for a slot")
    func maxInFlight() async throws {
        try await ScriptedV3Server.with { server in
            let (client, peer, _) = try await Self.open(server, maxInFlight: 2)
            try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<5 { group.addTask { try await client.countPrekeys() } }
                var answered = 0
                while answered < 5 {
                    let first = try await peer.request()
                    let second: (id: UInt32, request: V3Request)? = answered + 1 < 5 ? try await peer.request() : nil
                    // Two unanswered: the client holds the rest back.
                    #expect(peer.frames.count == 0)
                    try await peer.sendResult(.prekeyCount(UInt16(answered)), to: first.id)
                    answered += 1
                    if let second {
                        #expect(second.id != first.id)
                        try await peer.sendResult(.prekeyCount(UInt16(answered)), to: second.id)
                        answered += 1
                    }
                }
                var results: [Int] = []
                for try await result in group { results.append(result) }
                #expect(results.sorted() == [0, 1, 2, 3, 4])
            }
            await client.close()
        }
    }

    @Test("2,000 lookups from 40 tasks through maxInFlight 16, answered in shuffled batches: each gets its own answer")
    func manyInFlight() async throws {
        let bob = try AccountKeys.generate(oneTimePrekeyIDs: [])
        let total = 2_000
        try await ScriptedV3Server.with { server in
            let (client, peer, _) = try await Self.open(server, maxInFlight: 16)
            async let answered: Int = {
                var unanswered: [(UInt32, String)] = []
                var count = 0
                var largest = 0
                while count < total {
                    let (id, request) = try await peer.request()
                    guard case .lookup(let name) = request else { throw ScriptError("not LOOKUP: \(request)") }
                    unanswered.append((id, name))
                    largest = max(largest, unanswered.count)
                    #expect(unanswered.count <= 16)
                    if unanswered.count == 16 || peer.frames.count == 0 {
                        for (id, name) in unanswered.shuffled() {
                            try await peer.sendResult(.account(Self.account(0xB0), name: name, identity: bob.identity), to: id)
                        }
                        count += unanswered.count
                        unanswered = []
                    }
                }
                return largest
            }()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<40 {
                    group.addTask {
                        for index in 0..<(total / 40) {
                            let name = try AccountName("name-\(task)-\(index)")
                            let account = try await client.lookup(name: name)
                            #expect(account.name == name)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let largest = try await answered
            #expect(largest > 1)
            await client.close()
        }
    }

    @Test("a request whose task is cancelled throws CancellationError; its late answer is dropped and the session goes on")
    func cancellation() async throws {
        try await ScriptedV3Server.with { server in
            let (client, peer, _) = try await Self.open(server)
            let task = Task { try await client.countPrekeys() }
            let (id, _) = try await peer.request()
            task.cancel()
            await #expect(throws: CancellationError.self) { try await task.value }
            try await peer.sendResult(.prekeyCount(1), to: id)
            async let pinged: Void = client.ping()
            let (pingID, request) = try await peer.request()
            #expect(request == .ping && pingID != id)
            try await peer.sendResult(.done, to: pingID)
            try await pinged
            #expect(client.endReason == nil)
            await client.close()
        }
    }

    /// What a broken or malicious server sends in answer to COUNT_PREKEYS.
    enum Malformed: String, CaseIterable, Sendable {
        case deliveryWithRequestID, lyingLength, unknownType, resultForUnknownID, truncatedResult, secondHello, envelopeOverLimit

        func bytes(answering id: UInt32) -> ByteBuffer {
            var out = ByteBuffer()
            switch self {
            case .deliveryWithRequestID:
                var body = ByteBuffer()
                body.writeInteger(UInt64(5))
                body.writeBytes([UInt8](repeating: 0x22, count: 16))
                body.writeInteger(UInt64(1))
                body.writeBytes32(ByteBuffer(bytes: [1]))
                V3Frame(type: 0x43, requestID: id, body: body).write(into: &out)
            case .lyingLength:
                out.writeBytes([0xFF, 0xFF, 0xFF, 0xF0, 0x41, 0, 0, 0, 1, 0, 0])
            case .unknownType:
                V3Frame(type: 0x50, requestID: 0, body: ByteBuffer()).write(into: &out)
            case .resultForUnknownID:
                V3Frame(type: 0x41, requestID: id &+ 1000, body: ByteBuffer(bytes: [0, 1])).write(into: &out)
            case .truncatedResult:
                V3Frame(type: 0x41, requestID: id, body: ByteBuffer(bytes: [0])).write(into: &out)
            case .secondHello:
                V3ServerMessage.hello(V3Hello(nonce: [UInt8](repeating: 1, count: 32))).write(into: &out)
            case .envelopeOverLimit:
                V3ServerMessage.delivery(V3Delivery(messageID: 1, sender: AccountID(bytes: [UInt8](repeating: 1, count: 16))!, serverTime: 1,
                                                    envelope: ByteBuffer(bytes: [UInt8](repeating: 0, count: 200)))).write(into: &out)
            }
            return out
        }
    }

    @Test("a malformed frame ends the session with protocolViolation: the request fails, events throws, the client closes", arguments: Malformed.allCases)
    func malformed(_ kind: Malformed) async throws {
        try await ScriptedV3Server.with { server in
            let (client, peer, _) = try await Self.open(server, maxEnvelopeBytes: 100)
            async let error = Self.refusal { _ = try await client.countPrekeys() }
            let (id, _) = try await peer.request()
            try await peer.sendRaw(kind.bytes(answering: id))
            guard case .protocolViolation(_, let reason) = await error else { Issue.record("\(kind): not a protocol violation"); return }
            #expect(!reason.isEmpty)
            var events = client.events.makeAsyncIterator()
            await #expect(throws: AccountServerError.self) { _ = try await events.next() }
            guard case .protocolViolation = client.endReason else { Issue.record("\(kind): \(String(describing: client.endReason))"); return }
            // The client closed the connection; later requests fail at once.
            #expect(try await peer.receive() == nil)
            let later = await Self.refusal { try await client.ping() }
            guard case .protocolViolation = later else { Issue.record("\(kind): later request \(String(describing: later))"); return }
            await client.close()
        }
    }

    @Test("random bytes from the server never crash the client: the request fails, the session ends")
    func randomBytes() async throws {
        var generator = SystemRandomNumberGenerator()
        try await ScriptedV3Server.with { server in
            for round in 0..<30 {
                let (client, peer, _) = try await Self.open(server)
                async let error = Self.refusal { _ = try await client.countPrekeys() }
                _ = try await peer.request()
                // Noise that starts like a frame half the time, so that bodies get decoded too.
                var noise = ByteBuffer()
                if round % 2 == 0 {
                    let length = UInt32.random(in: 5...60, using: &generator)
                    noise.writeInteger(length)
                    noise.writeInteger(UInt8.random(in: 0x40...0x44, using: &generator))
                }
                noise.writeBytes((0..<Int.random(in: 1...200, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) })
                try await peer.sendRaw(noise)
                await peer.close()
                switch await error {
                case .protocolViolation, .connectionLost, .refused: break
                case let other: Issue.record("round \(round): \(String(describing: other))")
                }
                await client.close()
            }
        }
    }

    @Test("a quiet session sends PING before the server's idle timeout")
    func keepAlive() async throws {
        try await ScriptedV3Server.with { server in
            // The client pings after a third of the timeout (2 s); the margin to the timeout
            // itself (6 s) leaves room for a loaded machine's stalls (1 s and 0.3 s of pinging
            // measured 1.29 s once in a CI run beside other builds).
            let (client, peer, _) = try await Self.open(server, idleTimeoutSeconds: 6)
            let clock = ContinuousClock()
            let start = clock.now
            let (id, request) = try await peer.request()
            #expect(request == .ping)
            #expect(clock.now - start < .seconds(6))
            try await peer.sendResult(.done, to: id)
            await client.close()
        }
    }

    @Test("a pinned fingerprint that does not match is .untrustedServer, with the warning")
    func fingerprintMismatch() async throws {
        try await ScriptedV3Server.with { server in
            let wrong = ServerFingerprint(bytes: [UInt8](repeating: 0xAB, count: 32))
            let error = await Self.refusal {
                _ = try await SecureAccountConnection.connect(host: "127.0.0.1", port: server.port, verification: .pinned(wrong))
            }
            guard case .untrustedServer(_, let reason) = error else { Issue.record("\(String(describing: error))"); return }
            #expect(reason.contains("impersonat") && reason.contains(server.fingerprint.hex))
            #expect(error?.isRetryable == false)
        }
    }
}
