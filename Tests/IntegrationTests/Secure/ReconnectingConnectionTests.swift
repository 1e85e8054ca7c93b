@testable import Adapters
import Application
import Domain
import Foundation
import NIOCore
import SealpostWire
import Synchronization
import Testing

/// The reconnecting client against a scripted server that drops it: backoff, authentication
/// again over the new nonce, pushes resumed without a message shown twice, and a server that
/// fails verification never tried again.
@Suite("v3 client reconnection", .timeLimit(.minutes(1)))
struct ReconnectingConnectionTests {
    /// A value the test changes while a connector closure reads it.
    final class Box<Value: Sendable>: Sendable {
        private let value: Mutex<Value>
        init(_ value: Value) { self.value = Mutex(value) }
        var current: Value {
            get { value.withLock { $0 } }
        }
        func set(_ new: Value) { value.withLock { $0 = new } }
    }

    static let alice = AccountID(bytes: [UInt8](repeating: 0x11, count: 16))!
    static let bob = AccountID(bytes: [UInt8](repeating: 0x22, count: 16))!

    static func delivery(_ id: UInt64) -> V3ServerMessage {
        .delivery(V3Delivery(messageID: id, sender: bob, serverTime: 1000 + id, envelope: ByteBuffer(bytes: [UInt8(id)])))
    }

    static func shown(_ id: UInt64) -> AccountServerEvent {
        .delivery(IncomingEnvelope(messageID: id, sender: bob, serverTime: 1000 + id, envelope: [UInt8(id)]))
    }

    /// Reads AUTHENTICATE on `peer`, checks its signature over `nonce`, and answers it.
    static func answerAuthentication(_ peer: ScriptedV3Connection, nonce: [UInt8], server: ScriptedV3Server, keys: AccountKeys) async throws -> Signature {
        let (id, request) = try await peer.request()
        guard case .authenticate(let account, let signature) = request else { throw ScriptError("not AUTHENTICATE: \(request)") }
        #expect(account == alice)
        let signed = V3Signing.authentication(nonce: nonce, account: alice, certificateHash: server.certificateHash)
        #expect(OpenSSLCurve25519.isValid(signature, of: signed, by: keys.identity.signingKey))
        try await peer.sendResult(.authenticated(oneTimePrekeysLeft: 5), to: id)
        return signature
    }

    @Test("a dropped connection: the request in flight fails, attempts back off and grow, the new session authenticates over its own nonce, and no message id is shown twice")
    func reconnects() async throws {
        let keys = try AccountKeys.generate(oneTimePrekeyIDs: [])
        let backoff = ReconnectBackoff(initial: .milliseconds(40), maximum: .seconds(1))
        try await ScriptedV3Server.with { server in
            async let connecting = ReconnectingAccountConnection.connect(backoff: backoff) {
                try await SecureAccountConnection.connect(host: "127.0.0.1", port: server.port, verification: .pinned(server.fingerprint))
            }
            let first = try await server.accept()
            let firstNonce = try await first.sendHello()
            let client = try await connecting
            var events = client.events.makeAsyncIterator()

            async let left = client.authenticate(account: Self.alice, signer: keys)
            let firstSignature = try await Self.answerAuthentication(first, nonce: firstNonce, server: server, keys: keys)
            #expect(try await left == 5)
            try await first.send(Self.delivery(1))
            try await first.send(Self.delivery(2))
            #expect(try await events.next() == Self.shown(1))
            #expect(try await events.next() == Self.shown(2))
            async let acknowledged = client.acknowledge([1])
            let (ackID, ack) = try await first.request()
            #expect(ack == .ack([1]))
            try await first.sendResult(.acknowledged(1), to: ackID)
            #expect(try await acknowledged == 1)

            // The server drops the connection with a request in flight.
            async let lost = AccountConnectionScriptedTests.refusal { _ = try await client.countPrekeys() }
            _ = try await first.request()
            await first.close()
            guard case .connectionLost = await lost else { Issue.record("the request in flight did not fail with connectionLost"); return }

            // Two attempts reach TLS and get no HELLO; the waits grow.
            for attempt in 1...3 {
                guard case .reconnecting(let number, let delay, let reason) = try await events.next() else { Issue.record("no reconnecting event"); return }
                let ceiling = backoff.ceiling(attempt: attempt)
                #expect(number == attempt)
                #expect(delay >= ceiling / 2 && delay <= ceiling, "attempt \(attempt): \(delay), ceiling \(ceiling)")
                #expect(!reason.isEmpty)
                if attempt == 3 { break }
                let failing = try await server.accept()
                #expect(try await eventually { failing.handshakeCompleted })
                await failing.close()
            }
            // A request made while reconnecting waits for the new session; one cancelled while
            // it waits gives up.
            async let waited: Void = client.ping()
            let cancelled = Task { try await client.countPrekeys() }
            cancelled.cancel()
            await #expect(throws: CancellationError.self) { try await cancelled.value }

            let second = try await server.accept()
            let secondNonce = try await second.sendHello()
            let secondSignature = try await Self.answerAuthentication(second, nonce: secondNonce, server: server, keys: keys)
            #expect(secondSignature != firstSignature)
            #expect(!OpenSSLCurve25519.isValid(
                secondSignature, of: V3Signing.authentication(nonce: firstNonce, account: Self.alice, certificateHash: server.certificateHash),
                by: keys.identity.signingKey))
            #expect(try await events.next() == .reconnected)

            // The server delivers again what it has no ACK for (1's was lost with the connection, say),
            // then a new message.
            for id: UInt64 in [1, 2, 3] { try await second.send(Self.delivery(id)) }
            #expect(try await events.next() == Self.shown(3))
            // The PING, and 1 acknowledged again, in either order.
            var seen: [V3Request] = []
            for _ in 0..<2 {
                let (id, request) = try await second.request()
                seen.append(request)
                try await second.sendResult(request == .ping ? .done : .acknowledged(1), to: id)
            }
            #expect(seen.contains(.ping) && seen.contains(.ack([1])))
            try await waited
            async let acknowledgedLater = client.acknowledge([2, 3])
            let (laterID, later) = try await second.request()
            #expect(later == .ack([2, 3]))
            try await second.sendResult(.acknowledged(2), to: laterID)
            #expect(try await acknowledgedLater == 2)

            await client.close()
            #expect(try await events.next() == nil)
            let closed = await AccountConnectionScriptedTests.refusal { try await client.ping() }
            #expect(closed == .closed)
        }
    }

    @Test("a server whose key changed is not tried again: events and requests fail with untrustedServer")
    func fingerprintMismatchIsFinal() async throws {
        try await ScriptedV3Server.with { server in
            let pin = Box(server.fingerprint)
            async let connecting = ReconnectingAccountConnection.connect(backoff: ReconnectBackoff(initial: .milliseconds(10))) {
                try await SecureAccountConnection.connect(host: "127.0.0.1", port: server.port, verification: .pinned(pin.current))
            }
            let first = try await server.accept()
            try await first.sendHello()
            let client = try await connecting
            var events = client.events.makeAsyncIterator()
            pin.set(ServerFingerprint(bytes: [UInt8](repeating: 0xAB, count: 32)))
            await first.close()
            guard case .reconnecting(1, _, _) = try await events.next() else { Issue.record("no reconnecting event"); return }
            _ = try await server.accept()
            do {
                _ = try await events.next()
                Issue.record("events did not end")
            } catch let error as AccountServerError {
                guard case .untrustedServer(_, let reason) = error else { Issue.record("\(error)"); return }
                #expect(reason.contains("impersonat"))
            }
            let refused = await AccountConnectionScriptedTests.refusal { try await client.ping() }
            guard case .untrustedServer = refused else { Issue.record("\(String(describing: refused))"); return }
            #expect(server.waitingConnections == 0)
            await client.close()
        }
    }

    @Test("with maxAttempts, a server that stays away ends the reconnecting client after that many attempts in a row")
    func givesUpAfterMaxAttempts() async throws {
        try await ScriptedV3Server.with { server in
            let calls = Mutex(0)
            async let connecting = ReconnectingAccountConnection.connect(backoff: ReconnectBackoff(initial: .milliseconds(10)), maxAttempts: 3) {
                let call = calls.withLock { value in
                    value += 1
                    return value
                }
                guard call == 1 else { throw AccountServerError.cannotConnect(server: "127.0.0.1", reason: "refused (attempt \(call - 1))") }
                return try await SecureAccountConnection.connect(host: "127.0.0.1", port: server.port, verification: .pinned(server.fingerprint))
            }
            let first = try await server.accept()
            try await first.sendHello()
            let client = try await connecting
            var events = client.events.makeAsyncIterator()
            await first.close()
            for attempt in 1...3 {
                guard case .reconnecting(attempt, _, _) = try await events.next() else { Issue.record("no reconnecting event \(attempt)"); return }
            }
            do {
                _ = try await events.next()
                Issue.record("events did not end")
            } catch let error as AccountServerError {
                guard case .cannotConnect(_, let reason) = error else { Issue.record("\(error)"); return }
                #expect(reason.contains("attempt 3"))
            }
            #expect(calls.withLock { $0 } == 4)
            let refused = await AccountConnectionScriptedTests.refusal { try await client.ping() }
            guard case .cannotConnect = refused else { Issue.record("\(String(describing: refused))"); return }
            await client.close()
        }
    }

    @Test("an account that no longer authenticates ends the reconnecting client")
    func authenticationFailedIsFinal() async throws {
        let keys = try AccountKeys.generate(oneTimePrekeyIDs: [])
        try await ScriptedV3Server.with { server in
            async let connecting = ReconnectingAccountConnection.connect(backoff: ReconnectBackoff(initial: .milliseconds(10))) {
                try await SecureAccountConnection.connect(host: "127.0.0.1", port: server.port, verification: .pinned(server.fingerprint))
            }
            let first = try await server.accept()
            let nonce = try await first.sendHello()
            let client = try await connecting
            var events = client.events.makeAsyncIterator()
            async let left = client.authenticate(account: Self.alice, signer: keys)
            _ = try await Self.answerAuthentication(first, nonce: nonce, server: server, keys: keys)
            _ = try await left
            await first.close()
            guard case .reconnecting = try await events.next() else { Issue.record("no reconnecting event"); return }
            let second = try await server.accept()
            try await second.sendHello()
            let (id, _) = try await second.request()
            try await second.send(.error(requestID: id, V3Error(.authenticationFailed, message: "no")))
            do {
                _ = try await events.next()
                Issue.record("events did not end")
            } catch let error as AccountServerError {
                #expect(error.code == .authenticationFailed)
            }
            await client.close()
        }
    }

    @Test("backoff: doubling from the initial wait to the cap, jittered within [ceiling / 2, ceiling]")
    func backoff() {
        let backoff = ReconnectBackoff()
        #expect((1...10).map { backoff.ceiling(attempt: $0) } == [
            .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(1600),
            .milliseconds(3200), .milliseconds(6400), .milliseconds(12800), .milliseconds(25600), .seconds(30),
        ])
        #expect(backoff.ceiling(attempt: 500) == .seconds(30))
        var generator = SystemRandomNumberGenerator()
        var delays: Set<Duration> = []
        for attempt in 1...12 {
            for _ in 0..<50 {
                let delay = backoff.delay(attempt: attempt, using: &generator)
                let ceiling = backoff.ceiling(attempt: attempt)
                #expect(delay >= ceiling / 2 && delay <= ceiling)
                delays.insert(delay)
            }
        }
        #expect(delays.count > 100)
    }

    @Test("recent message ids: bounded, oldest forgotten first, acknowledgement remembered")
    func recentIDs() {
        var ids = RecentMessageIDs(capacity: 3)
        let inserted = [ids.insert(1), ids.insert(2), ids.insert(3), ids.insert(2)]
        #expect(inserted == [true, true, true, false])
        ids.markAcknowledged(2)
        ids.markAcknowledged(99)
        #expect(!ids.contains(99))
        #expect(ids.isAcknowledged(2) && !ids.isAcknowledged(1))
        let four = ids.insert(4)
        #expect(four)
        #expect(!ids.contains(1) && ids.contains(4) && ids.count == 3)
        let again = ids.insert(1)
        #expect(again)
        #expect(!ids.contains(2))
    }
}
