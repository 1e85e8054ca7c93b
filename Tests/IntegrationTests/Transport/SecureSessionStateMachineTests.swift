import Adapters
import Domain
import NIOCore
import SealpostWire
import Testing

/// The v3 session's decisions, without sockets: sign-in, what an unauthenticated session may
/// do, pipelining limits, answers, and the protocol errors that end a session.
@Suite("SecureSessionStateMachine")
struct SecureSessionStateMachineTests {
    static let alice = AccountID(bytes: [UInt8](repeating: 0x11, count: 16))!

    static func machine(maxInFlight: UInt16 = 256) -> SecureSessionStateMachine {
        var configuration = SecureServerConfiguration()
        configuration.maxInFlight = maxInFlight
        var machine = SecureSessionStateMachine(hello: configuration.hello(nonce: [UInt8](repeating: 1, count: 32)))
        _ = machine.handshakeCompleted(negotiatedProtocol: SecureServer.applicationProtocol)
        return machine
    }

    static func frame(_ request: V3Request, id: UInt32) -> V3Frame {
        var buffer = ByteBuffer()
        request.write(requestID: id, into: &buffer)
        return V3Frame(type: request.type.rawValue, requestID: id, body: buffer.getSlice(at: 9, length: buffer.readableBytes - 9)!)
    }

    static let authenticate = V3Request.authenticate(account: alice, signature: try! Signature(bytes: [UInt8](repeating: 2, count: 64)))

    static func signedIn() -> SecureSessionStateMachine {
        var machine = machine()
        _ = machine.received(frame(authenticate, id: 1))
        _ = machine.authenticated(requestID: 1, as: alice, result: .authenticated(oneTimePrekeysLeft: 50))
        return machine
    }

    @Test("nothing is answered before HELLO, and a handshake without sealpost/3 closes")
    func beforeHello() {
        var machine = SecureSessionStateMachine(hello: SecureServerConfiguration().hello(nonce: [UInt8](repeating: 1, count: 32)))
        #expect(machine.received(Self.frame(.ping, id: 1)).isEmpty)
        #expect(machine.handshakeCompleted(negotiatedProtocol: "h2") == [.close])
        #expect(machine.state == .closed)
    }

    @Test("an unauthenticated session may only sign in; every other request gets notAuthenticated")
    func unauthenticatedRequests() {
        var machine = Self.machine()
        for (id, request) in [V3Request.ping, .countPrekeys, .lookup(name: "bob"), .ack([1])].enumerated() {
            let actions = machine.received(Self.frame(request, id: UInt32(id + 1)))
            guard case .send(.error(UInt32(id + 1), let error)) = actions.first, actions.count == 1 else { Issue.record("\(actions)"); return }
            #expect(error.knownCode == .notAuthenticated)
        }
        #expect(machine.state == .unauthenticated)
        #expect(machine.received(Self.frame(Self.authenticate, id: 9)) == [.authenticate(requestID: 9, Self.authenticate)])
        #expect(machine.state == .authenticating(requestID: 9))
    }

    @Test("one sign-in at a time: a second while the first is checked gets notAuthenticated")
    func oneSignInAtATime() {
        var machine = Self.machine()
        _ = machine.received(Self.frame(Self.authenticate, id: 1))
        let actions = machine.received(Self.frame(Self.authenticate, id: 2))
        guard case .send(.error(2, let error)) = actions.first else { Issue.record("\(actions)"); return }
        #expect(error.knownCode == .notAuthenticated)
    }

    @Test("a refused sign-in answers its ERROR and the session may try again")
    func refusedSignIn() {
        var machine = Self.machine()
        _ = machine.received(Self.frame(Self.authenticate, id: 1))
        let refusal = V3Error(.authenticationFailed, message: "no")
        #expect(machine.authenticationRefused(requestID: 1, refusal) == [.send(.error(requestID: 1, refusal))])
        #expect(machine.state == .unauthenticated)
        // A late report for another request changes nothing.
        #expect(machine.authenticated(requestID: 7, as: Self.alice, result: .done).isEmpty)
        #expect(machine.state == .unauthenticated)
        #expect(machine.received(Self.frame(Self.authenticate, id: 2)) == [.authenticate(requestID: 2, Self.authenticate)])
    }

    @Test("a sign-in answers RESULT, then its notices, then starts delivery; the deadline no longer applies")
    func signedIn() {
        var machine = Self.machine()
        _ = machine.received(Self.frame(Self.authenticate, id: 3))
        let actions = machine.authenticated(requestID: 3, as: Self.alice, result: .authenticated(oneTimePrekeysLeft: 2), notices: [.prekeysLow(count: 2)])
        #expect(actions == [
            .send(.result(requestID: 3, body: V3Result.authenticated(oneTimePrekeysLeft: 2).body())),
            .send(.notice(.prekeysLow(count: 2))),
            .startDelivery(Self.alice),
        ])
        #expect(machine.account == Self.alice)
        #expect(machine.authenticationTimedOut().isEmpty)
    }

    @Test("an authenticated session dispatches requests as its own account, answers PING itself, refuses a second sign-in")
    func authenticatedRequests() {
        var machine = Self.signedIn()
        #expect(machine.received(Self.frame(.countPrekeys, id: 2)) == [.dispatch(requestID: 2, .countPrekeys, account: Self.alice)])
        #expect(machine.received(Self.frame(.ping, id: 3)) == [.send(.result(requestID: 3, body: ByteBuffer()))])
        let again = machine.received(Self.frame(Self.authenticate, id: 4))
        guard case .send(.error(4, let error)) = again.first else { Issue.record("\(again)"); return }
        #expect(error.knownCode == .alreadyAuthenticated)
        #expect(machine.unansweredCount == 1)
        let answer = V3ServerMessage.result(requestID: 2, body: V3Result.prekeyCount(5).body())
        #expect(machine.completed(requestID: 2, answer) == [.send(answer)])
        #expect(machine.completed(requestID: 2, answer).isEmpty)
        #expect(machine.unansweredCount == 0)
    }

    @Test("a request id still waiting for its answer, id 0, and a non-request type are protocol errors")
    func protocolErrors() {
        for bad in [V3Frame(type: 0x04, requestID: 0, body: ByteBuffer()), V3Frame(type: 0x41, requestID: 5, body: ByteBuffer())] {
            var machine = Self.signedIn()
            let actions = machine.received(bad)
            guard case .send(.error(_, let error)) = actions.first else { Issue.record("\(actions)"); return }
            #expect(error.knownCode == .malformed)
            #expect(actions.last == .close)
            #expect(machine.state == .closed)
            #expect(machine.received(Self.frame(.ping, id: 9)).isEmpty)
        }
        var machine = Self.signedIn()
        _ = machine.received(Self.frame(.countPrekeys, id: 8))
        let duplicate = machine.received(Self.frame(.countPrekeys, id: 8))
        #expect(duplicate.last == .close)
    }

    @Test("more than maxInFlight unanswered requests is a protocol error")
    func inFlightLimit() {
        var machine = Self.machine(maxInFlight: 3)
        _ = machine.received(Self.frame(Self.authenticate, id: 100))
        _ = machine.authenticated(requestID: 100, as: Self.alice, result: .done)
        for id in 1...3 { #expect(machine.received(Self.frame(.countPrekeys, id: UInt32(id))).count == 1) }
        #expect(machine.received(Self.frame(.countPrekeys, id: 4)).last == .close)
    }

    @Test("an unknown request type keeps the session; a malformed body ends it")
    func unknownAndMalformed() {
        var machine = Self.signedIn()
        let unknown = machine.received(V3Frame(type: 0x3E, requestID: 5, body: ByteBuffer()))
        guard case .send(.error(5, let error)) = unknown.first, unknown.count == 1 else { Issue.record("\(unknown)"); return }
        #expect(error.knownCode == .unknownRequest)
        let cut = machine.received(V3Frame(type: V3RequestType.send.rawValue, requestID: 6, body: ByteBuffer(bytes: [1, 2, 3])))
        #expect(cut.last == .close)
    }

    @Test("a failed delivery ends the session with ERROR unavailable")
    func deliveryFailure() {
        var machine = Self.signedIn()
        let actions = machine.deliveryFailed("storage")
        #expect(actions.last == .close)
        #expect(machine.deliveryFailed("again").isEmpty)
    }
}
