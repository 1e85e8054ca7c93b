@testable import Adapters
import Domain
import NIOCore
import SeedWire
import Testing

/// The protocol v2 connection's decisions, with no sockets: bytes in, actions out.
@Suite("Transport: the v2 connection state machine")
struct SeedV2StateMachineTests {
    static let alice = ClientID(bytes: Array(repeating: 0xA1, count: 16))!
    static let bob = ClientID(bytes: Array(repeating: 0xB0, count: 16))!

    /// A machine with a 1 KiB content limit that streams contents over 64 bytes.
    static func machine() -> SeedV2StateMachine {
        SeedV2StateMachine(maxPayload: 1024, inlineLimit: 64)
    }

    /// Feeds `bytes` in pieces of `step` and collects every action.
    static func feed(_ machine: inout SeedV2StateMachine, _ bytes: [UInt8], step: Int = .max) -> [SeedV2StateMachine.Action] {
        var actions: [SeedV2StateMachine.Action] = []
        var buffer = ByteBuffer()
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + step)
            buffer.writeBytes(bytes[offset..<end])
            offset = end
            while let action = machine.received(&buffer) { actions.append(action) }
        }
        return actions
    }

    static func ended(_ machine: inout SeedV2StateMachine, leftover: [UInt8] = []) -> [SeedV2StateMachine.Action] {
        var buffer = ByteBuffer(bytes: leftover)
        var actions: [SeedV2StateMachine.Action] = []
        while let action = machine.inputEnded(&buffer) { actions.append(action) }
        return actions
    }

    @Test("a request that arrives whole is served once; the connection then stops reading and is busy")
    func wholeRequest() {
        var machine = Self.machine()
        #expect(machine.state == .awaitingRequest && machine.wantsInput && machine.activity == .awaitingRequest && !machine.inputComplete)
        let actions = Self.feed(&machine, Requests.list(Self.alice))
        guard actions.count == 1, case .serve(.listClients(let header)) = actions[0] else {
            Issue.record("expected one serve(listClients), got \(actions)")
            return
        }
        #expect(header.clientID == Self.alice)
        #expect(machine.state == .serving)
        #expect(!machine.wantsInput && machine.inputComplete && machine.activity == .busy)
    }

    @Test("a request trickling in byte by byte is decided only on its last byte")
    func trickledRequest() {
        var machine = Self.machine()
        let request = Requests.publicKey(Self.alice, of: Self.bob)
        var buffer = ByteBuffer()
        for (index, byte) in request.enumerated() {
            buffer.writeInteger(byte)
            let action = machine.received(&buffer)
            if index < request.count - 1 {
                #expect(action == nil, "decided at byte \(index)")
                #expect(machine.activity == .awaitingRequest)
            } else if case .serve(.publicKey(_, let target)) = action {
                #expect(target == Self.bob)
            } else {
                Issue.record("expected serve(publicKey), got \(String(describing: action))")
            }
        }
    }

    @Test("a pull is delivering: bytes flow to the peer, so the idle timeout applies")
    func pullIsTransferring() {
        var machine = Self.machine()
        let actions = Self.feed(&machine, Requests.pull(Self.alice))
        guard actions.count == 1, case .serve(.pull) = actions[0] else {
            Issue.record("expected serve(pull), got \(actions)")
            return
        }
        #expect(machine.state == .delivering && machine.activity == .transferring && machine.inputComplete)
    }

    @Test("one request per connection: a second request behind the first is never taken")
    func oneRequestPerConnection() {
        var machine = Self.machine()
        let actions = Self.feed(&machine, Requests.list(Self.alice) + Requests.pull(Self.alice) + Requests.list(Self.bob))
        #expect(actions.count == 1)
        guard case .serve(.listClients) = actions.first else {
            Issue.record("expected serve(listClients), got \(actions)")
            return
        }
    }

    @Test("a large send streams: head first, then its content in pieces, the last flagged; reading stops after it")
    func streamedSend() {
        var machine = Self.machine()
        let content = (0..<600).map { UInt8(truncatingIfNeeded: $0) }
        let actions = Self.feed(&machine, Requests.send(Self.alice, to: Self.bob, type: 3, content: content), step: 100)
        guard case .receiveUpload(_, let message) = actions.first else {
            Issue.record("expected receiveUpload first, got \(actions)")
            return
        }
        #expect(message.recipient == Self.bob && message.contentSize == 600)
        var received: [UInt8] = []
        var lastFlags: [Bool] = []
        for action in actions.dropFirst() {
            guard case .content(let piece, let isLast) = action else {
                Issue.record("expected content, got \(action)")
                return
            }
            received += piece.readableBytesView
            lastFlags.append(isLast)
        }
        #expect(received == content)
        #expect(lastFlags.last == true && lastFlags.dropLast().allSatisfy { !$0 })
        #expect(machine.state == .contentReceived && !machine.wantsInput && machine.inputComplete && machine.activity == .busy)
    }

    @Test("while the content comes in, the connection reads and counts as transferring; its request is not read in full")
    func midContent() {
        var machine = Self.machine()
        let request = Requests.send(Self.alice, to: Self.bob, type: 3, content: Array(repeating: 7, count: 500))
        _ = Self.feed(&machine, Array(request.prefix(200)))
        #expect(machine.state == .receivingContent && machine.wantsInput && !machine.inputComplete && machine.activity == .transferring)
    }

    @Test("the peer leaving in the middle of a content fails the content; the upload's task answers")
    func contentCutShort() {
        var machine = Self.machine()
        let request = Requests.send(Self.alice, to: Self.bob, type: 3, content: Array(repeating: 7, count: 500))
        _ = Self.feed(&machine, Array(request.prefix(300)))
        let actions = Self.ended(&machine)
        guard actions.count == 1, case .contentFailed(let error) = actions[0] else {
            Issue.record("expected contentFailed, got \(actions)")
            return
        }
        #expect(error as? SeedDecodeError == .truncated(missing: UInt64(request.count - 300)))
        #expect(machine.state == .contentFailed && !machine.wantsInput && !machine.inputComplete)
    }

    @Test("an unknown request code is refused at once; the rest of the request is unread, so a close lingers")
    func unknownCodeRefused() {
        var machine = Self.machine()
        let actions = Self.feed(&machine, Requests.header(Self.alice, code: 99, size: 10) + Array(repeating: 0, count: 10))
        guard actions.count == 1, case .refuse(let error) = actions[0] else {
            Issue.record("expected refuse, got \(actions)")
            return
        }
        #expect(error as? SeedDecodeError == .unknownCode(99))
        #expect(machine.state == .refusing && !machine.wantsInput && !machine.inputComplete && machine.activity == .transferring)
    }

    @Test("a content larger than the limit is refused from the header, before any of it arrives")
    func oversizeRefusedFromHeader() {
        var machine = Self.machine()
        var header = Requests.header(Self.alice, code: 103, size: 21 + 5000)
        header += Self.bob.bytes + [3] + withUnsafeBytes(of: UInt32(5000).littleEndian) { Array($0) }
        let actions = Self.feed(&machine, Array(header.prefix(22)))
        guard actions.count == 1, case .refuse = actions[0] else {
            Issue.record("expected refuse from the 22-byte header, got \(actions)")
            return
        }
    }

    @Test("connecting and leaving without a byte closes without an answer")
    func silentPeer() {
        var machine = Self.machine()
        let actions = Self.ended(&machine)
        guard actions.count == 1, case .close = actions[0] else {
            Issue.record("expected close, got \(actions)")
            return
        }
        #expect(machine.state == .done)
    }

    @Test("leaving in the middle of a header is a truncated request, answered with 9000")
    func partialHeader() {
        var machine = Self.machine()
        let head = Array(Requests.list(Self.alice).prefix(10))
        #expect(Self.feed(&machine, head).isEmpty)
        // What the machine left unread is what the connection hands over at the end.
        let actions = Self.ended(&machine, leftover: head)
        guard actions.count == 1, case .refuse(let error) = actions[0] else {
            Issue.record("expected refuse, got \(actions)")
            return
        }
        #expect(error as? SeedDecodeError == .truncated(missing: 12))
    }

    @Test("a request whose last byte and the end of input arrive together is served, not refused")
    func requestThenEnd() {
        var machine = Self.machine()
        let actions = Self.ended(&machine, leftover: Requests.pull(Self.bob))
        guard actions.count == 1, case .serve(.pull(let header)) = actions[0] else {
            Issue.record("expected serve(pull), got \(actions)")
            return
        }
        #expect(header.clientID == Self.bob)
    }

    @Test("after the request was taken, the end of input decides nothing more")
    func endAfterRequest() {
        var machine = Self.machine()
        _ = Self.feed(&machine, Requests.list(Self.alice))
        #expect(Self.ended(&machine).isEmpty)
        #expect(machine.state == .serving)
    }
}
