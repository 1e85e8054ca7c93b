import Application
import NIOCore
import SealpostWire
import Synchronization

/// One authenticated-or-not v3 session as the client runs it (docs/protocol-v3.md §3): the
/// requests waiting for their answers, by request id, the push events, and the session's end.
///
/// Requests are made from any task; one writer task writes their frames, many to a write when
/// they gather, and one reader task hands each RESULT or ERROR to the request with its id, in
/// whatever order they come. At most HELLO's `maxInFlight` requests
/// are unanswered at once; a request beyond them waits for a slot. When the session ends, every
/// request still waiting fails with the reason, and so do the ones made afterwards.
final class SecureAccountSession: Sendable {
    private enum Pending {
        /// Written (or being written); nobody waits yet.
        case sent(V3RequestType)
        case waiting(V3RequestType, CheckedContinuation<V3Result, any Error>)
        /// The answer came before anybody waited for it.
        case answered(Result<V3Result, AccountServerError>)
        /// The requester was cancelled; the answer is still due, and then dropped.
        case abandoned(V3RequestType)

        var type: V3RequestType? {
            switch self {
            case .sent(let type), .waiting(let type, _), .abandoned(let type): type
            case .answered: nil
            }
        }
    }

    private struct State {
        var nextID: UInt32 = 1
        var pending: [UInt32: Pending] = [:]
        var slotWaiters: [CheckedContinuation<Void, any Error>] = []
        var ended: AccountServerError?
        /// Frames in and out, for the keep-alive.
        var activity: UInt64 = 0
        /// Request frames not yet handed to the channel.
        var outgoing = ByteBuffer()
        /// The writer, when it waits for frames.
        var writerWaiting: CheckedContinuation<Void, Never>?

        mutating func allocateID() -> UInt32 {
            while nextID == 0 || pending[nextID] != nil { nextID &+= 1 }
            defer { nextID &+= 1 }
            return nextID
        }
    }

    let hello: V3Hello
    let server: String
    let certificateHash: [UInt8]
    let events: AsyncThrowingStream<AccountServerEvent, any Error>
    private let eventSink: AsyncThrowingStream<AccountServerEvent, any Error>.Continuation
    private let writer: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private let closeChannel: @Sendable () -> Void
    private let state = Mutex(State())

    init(hello: V3Hello, server: String, certificateHash: [UInt8], writer: NIOAsyncChannelOutboundWriter<ByteBuffer>,
         closeChannel: @escaping @Sendable () -> Void) {
        self.hello = hello
        self.server = server
        self.certificateHash = certificateHash
        self.writer = writer
        self.closeChannel = closeChannel
        (events, eventSink) = AsyncThrowingStream.makeStream()
    }

    private var maxInFlight: Int { max(1, Int(hello.maxInFlight)) }

    /// Why the session ended, or nil while it is open.
    var endReason: AccountServerError? { state.withLock { $0.ended } }

    var activity: UInt64 { state.withLock { $0.activity } }

    // MARK: Requests

    /// Sends `request` and waits for its answer.
    func perform(_ request: V3Request) async throws -> V3Result {
        try await answer(to: try await submit(request))
    }

    /// Queues `request` for sending (after every request submitted before it) and returns its
    /// id, without waiting for the answer: `answer(to:)` waits for it. Requests that must reach
    /// the server in order (ATTACH_WRITE) are submitted one after another this way.
    func submit(_ request: V3Request) async throws -> UInt32 {
        let id = try await reserve(request.type)
        let writer = state.withLock { state -> CheckedContinuation<Void, Never>? in
            request.write(requestID: id, into: &state.outgoing)
            defer { state.writerWaiting = nil }
            return state.writerWaiting
        }
        writer?.resume()
        return id
    }

    /// Writes the requests' frames as they come, in as few writes as they allow: whatever
    /// gathered while the last write was under way goes out in the next one (one TLS record,
    /// one system call, for many pipelined requests). Runs until the session ends.
    func writeRequests() async {
        while let bytes = await nextOutgoing() {
            do {
                try await writer.write(bytes)
            } catch {
                end(endReason ?? .connectionLost(server: server, reason: "writing to the server failed: \(error)"))
                return
            }
        }
    }

    /// The frames gathered since the last write, waiting for some; nil once the session ended.
    private func nextOutgoing() async -> ByteBuffer? {
        enum Step { case write(ByteBuffer), ended, wait }
        while true {
            let step = state.withLock { state -> Step in
                if state.ended != nil { return .ended }
                guard state.outgoing.readableBytes > 0 else { return .wait }
                defer { state.outgoing = ByteBuffer() }
                return .write(state.outgoing)
            }
            switch step {
            case .write(let bytes): return bytes
            case .ended: return nil
            case .wait:
                await withCheckedContinuation { (waiting: CheckedContinuation<Void, Never>) in
                    let ready = state.withLock { state -> Bool in
                        if state.ended != nil || state.outgoing.readableBytes > 0 { return true }
                        state.writerWaiting = waiting
                        return false
                    }
                    if ready { waiting.resume() }
                }
            }
        }
    }

    /// A request id with a slot among the `maxInFlight`, waiting for one if need be.
    private func reserve(_ type: V3RequestType) async throws -> UInt32 {
        enum Outcome { case reserved(UInt32), full, ended(AccountServerError) }
        while true {
            let outcome = state.withLock { state -> Outcome in
                if let ended = state.ended { return .ended(ended) }
                guard state.pending.count < maxInFlight else { return .full }
                let id = state.allocateID()
                state.pending[id] = .sent(type)
                state.activity &+= 1
                return .reserved(id)
            }
            switch outcome {
            case .reserved(let id): return id
            case .ended(let error): throw error
            case .full:
                try await withCheckedThrowingContinuation { (slot: CheckedContinuation<Void, any Error>) in
                    let ready: Result<Void, AccountServerError>? = state.withLock { state in
                        if let ended = state.ended { return .failure(ended) }
                        if state.pending.count < maxInFlight { return .success(()) }
                        state.slotWaiters.append(slot)
                        return nil
                    }
                    if let ready { slot.resume(with: ready) }
                }
            }
        }
    }

    /// Waits for the answer to the request `id` submitted earlier.
    func answer(to id: UInt32) async throws -> V3Result {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<V3Result, any Error>) in
                // The answer, if it is known already, and whether its slot was freed.
                let ready: (Result<V3Result, any Error>, freed: Bool)? = state.withLock { state in
                    switch state.pending[id] {
                    case .sent(let type):
                        state.pending[id] = .waiting(type, continuation)
                        return nil
                    case .answered(let result):
                        state.pending[id] = nil
                        return (result.mapError { $0 }, true)
                    case .abandoned:
                        return (.failure(CancellationError()), false)
                    case .waiting, nil:
                        return (.failure(state.ended ?? AccountServerError.connectionLost(server: server, reason: "the request was lost")), false)
                    }
                }
                if let (result, freed) = ready {
                    continuation.resume(with: result)
                    if freed { freeSlot() }
                }
            }
        } onCancel: {
            let cancelled: CheckedContinuation<V3Result, any Error>? = state.withLock { state in
                switch state.pending[id] {
                case .sent(let type):
                    state.pending[id] = .abandoned(type)
                    return nil
                case .waiting(let type, let continuation):
                    state.pending[id] = .abandoned(type)
                    return continuation
                default:
                    return nil
                }
            }
            cancelled?.resume(throwing: CancellationError())
        }
    }

    /// Wakes one request waiting for a slot (it checks again for itself).
    private func freeSlot() {
        let waiter: CheckedContinuation<Void, any Error>? = state.withLock { state in
            state.slotWaiters.isEmpty ? nil : state.slotWaiters.removeFirst()
        }
        waiter?.resume()
    }

    // MARK: The reader's side

    /// The request type waiting under `id`, or nil when no request waits under it.
    func requestType(of id: UInt32) -> V3RequestType? {
        state.withLock { $0.pending[id]?.type }
    }

    /// Hands an answer to the request with `id`. Returns false when no request waits under it.
    func deliver(_ result: Result<V3Result, AccountServerError>, to id: UInt32) -> Bool {
        enum Outcome { case resume(CheckedContinuation<V3Result, any Error>), stored, dropped, unknown }
        let outcome = state.withLock { state -> Outcome in
            state.activity &+= 1
            switch state.pending[id] {
            case .sent:
                state.pending[id] = .answered(result)
                return .stored
            case .waiting(_, let continuation):
                state.pending[id] = nil
                return .resume(continuation)
            case .abandoned:
                state.pending[id] = nil
                return .dropped
            case .answered, nil:
                return .unknown
            }
        }
        switch outcome {
        case .resume(let continuation):
            continuation.resume(with: result.mapError { $0 })
            freeSlot()
        case .dropped:
            freeSlot()
        case .stored:
            break
        case .unknown:
            return false
        }
        return true
    }

    /// A pushed event, for the consumer of `events`.
    func push(_ event: AccountServerEvent) {
        state.withLock { $0.activity &+= 1 }
        eventSink.yield(event)
    }

    /// A frame arrived that needs nothing (an ignorable type, an unknown notice).
    func noteActivity() {
        state.withLock { $0.activity &+= 1 }
    }

    /// Ends the session for `reason`: every waiting request fails with it, `events` finishes
    /// (quietly for `.closed`, with the reason otherwise), and the connection is closed.
    /// Only the first reason counts.
    func end(_ reason: AccountServerError) {
        let taken: ([CheckedContinuation<V3Result, any Error>], [CheckedContinuation<Void, any Error>], CheckedContinuation<Void, Never>?)? = state.withLock { state in
            guard state.ended == nil else { return nil }
            state.ended = reason
            var waiters: [CheckedContinuation<V3Result, any Error>] = []
            for (id, pending) in state.pending {
                switch pending {
                case .waiting(_, let continuation):
                    waiters.append(continuation)
                    state.pending[id] = nil
                case .sent, .abandoned:
                    state.pending[id] = nil
                case .answered:
                    break
                }
            }
            let slots = state.slotWaiters
            state.slotWaiters = []
            state.outgoing = ByteBuffer()
            return (waiters, slots, state.writerWaiting.take())
        }
        guard let (waiters, slots, writer) = taken else { return }
        writer?.resume()
        for waiter in waiters { waiter.resume(throwing: reason) }
        for slot in slots { slot.resume(throwing: reason) }
        if reason == .closed {
            eventSink.finish()
        } else {
            eventSink.finish(throwing: reason)
        }
        closeChannel()
    }
}
