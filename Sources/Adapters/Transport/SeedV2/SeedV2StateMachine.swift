import Domain
import NIOCore
import SeedWire

/// The decisions of a protocol v2 connection, without sockets: bytes and events go in,
/// actions come out (postgres-nio's `ConnectionStateMachine` is the model). The
/// `SeedV2Handler` feeds it and carries the actions out on its `StreamConnection`.
///
/// One request per connection (docs/protocol-v2.md §2.1): once it has been taken, later
/// bytes are dropped, except the content of a streamed send.
struct SeedV2StateMachine {
    enum State: Hashable {
        /// Nothing taken yet: the request's head may still be arriving.
        case awaitingRequest
        /// A request other than a pull is being served.
        case serving
        /// A pull's reply is being written to the peer.
        case delivering
        /// A malformed request is being answered with 9000.
        case refusing
        /// A large send's content is coming in (`remaining` pieces' bytes not yet read).
        case receivingContent
        /// A large send's content has been read in full; it is being stored.
        case contentReceived
        /// A large send's content cannot complete; its task answers.
        case contentFailed
        /// The peer left without a request: nothing to do but close.
        case done
    }

    /// What the handler must do next.
    enum Action {
        /// Serve a request that arrived whole.
        case serve(SeedRequest)
        /// Serve a send whose content follows in pieces (`content` actions).
        case receiveUpload(SeedRequestHeader, MessageHeader)
        /// Answer a malformed request with 9000.
        case refuse(any Error)
        /// The next piece of the streamed content, `isLast` on the final one.
        case content(ByteBuffer, isLast: Bool)
        /// The streamed content cannot complete (the peer left early, or it is malformed).
        case contentFailed(any Error)
        /// Close the connection now: there is nothing to answer.
        case close
    }

    private(set) var state: State = .awaitingRequest
    private var decoder: SeedRequestDecoder

    init(maxPayload: UInt32, inlineLimit: UInt32) {
        decoder = SeedRequestDecoder(maxPayload: maxPayload, inlineLimit: inlineLimit)
    }

    /// Takes the next action out of `buffer`, or returns `nil` when more bytes are needed
    /// (or none are wanted). Call until it returns `nil`.
    mutating func received(_ buffer: inout ByteBuffer) -> Action? {
        do {
            guard let part = try decoder.decode(buffer: &buffer) else { return nil }
            return take(part)
        } catch {
            return failed(error)
        }
    }

    /// The peer ended its side; `buffer` holds what was left. Call until it returns `nil`.
    mutating func inputEnded(_ buffer: inout ByteBuffer) -> Action? {
        do {
            if let part = try decoder.decodeLast(buffer: &buffer, seenEOF: true) {
                return take(part)
            }
        } catch {
            return failed(error)
        }
        guard state == .awaitingRequest else { return nil }
        // Connected and left without a word: nothing to answer.
        state = .done
        return .close
    }

    /// Whether the connection should read: a request still to come, or its content.
    var wantsInput: Bool {
        state == .awaitingRequest || state == .receivingContent
    }

    /// Whether every byte of the request was read (closing then cannot reset a reply).
    var inputComplete: Bool {
        switch state {
        case .awaitingRequest, .receivingContent, .refusing, .contentFailed: false
        case .serving, .delivering, .contentReceived, .done: true
        }
    }

    var activity: ConnectionActivity {
        switch state {
        case .awaitingRequest: .awaitingRequest
        // The server works; the peer waits. Silence is not idleness.
        case .serving, .contentReceived, .contentFailed, .done: .busy
        // Bytes flow between peer and server; a peer that stops reading or sending is idle.
        case .delivering, .refusing, .receivingContent: .transferring
        }
    }

    private mutating func take(_ part: SeedRequestPart) -> Action? {
        switch part {
        case .complete(let request):
            guard state == .awaitingRequest else { return nil }
            if case .pull = request { state = .delivering } else { state = .serving }
            return .serve(request)
        case .sendHead(let header, let message):
            guard state == .awaitingRequest else { return nil }
            state = .receivingContent
            return .receiveUpload(header, message)
        case .content(let piece, let isLast):
            guard state == .receivingContent else { return nil }
            if isLast { state = .contentReceived }
            return .content(piece, isLast: isLast)
        }
    }

    private mutating func failed(_ error: any Error) -> Action? {
        switch state {
        case .awaitingRequest:
            state = .refusing
            return .refuse(error)
        case .receivingContent:
            // The upload's task sees the failure and answers.
            state = .contentFailed
            return .contentFailed(error)
        case .serving, .delivering, .refusing, .contentReceived, .contentFailed, .done:
            return nil
        }
    }
}
