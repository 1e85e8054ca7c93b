import Domain
import NIOCore
import SealpostWire

/// A lean, pipelined attachment client over one `SecureClientSession` (docs/protocol-v3.md
/// §9): it keeps up to `window` ATTACH_WRITE or ATTACH_READ requests in flight, so a
/// transfer is not one round trip per chunk, and holds at most `window` chunks in memory.
/// Pushed DELIVERY and NOTICE frames are skipped (an unacknowledged delivery comes again).
public struct AttachmentTransfer {
    /// Why a transfer stopped.
    public enum Failure: Error, CustomStringConvertible {
        /// The server answered with ERROR.
        case refused(V3Error)
        /// The server closed the session, or answered out of turn.
        case broken(String)

        public var description: String {
            switch self {
            case .refused(let error): "refused (\(error.code)): \(error.message)"
            case .broken(let why): why
            }
        }
    }

    public let session: SecureClientSession
    /// Bytes per ATTACH_WRITE or ATTACH_READ; at most `maxFrameBytes` − 64.
    public let chunk: Int
    /// Requests in flight.
    public let window: Int
    private var nextID: UInt32

    /// - Parameter firstRequestID: ids are numbered from here; the caller's own requests on
    ///   the session must use others.
    public init(session: SecureClientSession, chunk: Int = 512 * 1024, window: Int = 8, firstRequestID: UInt32 = 1_000_000) {
        self.session = session
        self.chunk = min(chunk, Int(session.hello.maxFrameBytes) - 64)
        self.window = max(1, window)
        self.nextID = firstRequestID
    }

    /// Sends one request and waits for its answer.
    public mutating func call(_ request: V3Request) async throws -> V3Result {
        let id = takeID()
        try await session.send(request, requestID: id)
        return try await answer(to: id, type: request.type)
    }

    /// ATTACH_CREATE.
    public mutating func create(size: UInt64, recipients: [AccountID]) async throws -> AttachmentID {
        guard case .attachmentCreated(let id) = try await call(.attachCreate(size: size, recipients: recipients)) else {
            throw Failure.broken("ATTACH_CREATE answered with another result")
        }
        return id
    }

    /// ATTACH_STATUS: where to resume.
    public mutating func status(_ id: AttachmentID) async throws -> V3AttachmentStatus {
        guard case .attachmentStatus(let status) = try await call(.attachStatus(id)) else {
            throw Failure.broken("ATTACH_STATUS answered with another result")
        }
        return status
    }

    /// Writes `[offset, end)` of attachment `id`, taking the bytes from `source(offset, count)`.
    ///
    /// - Parameter cutAt: stop sending once this offset is reached and return at once, with
    ///   writes still in flight: a connection cut in the middle, for tests of resumption.
    /// - Returns: the stored offset last confirmed.
    public mutating func upload(_ id: AttachmentID, from offset: UInt64, to end: UInt64, cutAt: UInt64? = nil,
                                source: (UInt64, Int) throws -> ByteBuffer) async throws -> UInt64 {
        var next = offset
        var stored = offset
        var inFlight: [UInt32: UInt64] = [:]
        var refusal: V3Error?
        let stop = min(end, cutAt ?? end)
        while refusal == nil ? stored < end : !inFlight.isEmpty {
            while refusal == nil, inFlight.count < window, next < stop {
                let count = Int(min(UInt64(chunk), stop - next))
                let id32 = takeID()
                try await session.send(.attachWrite(id, offset: next, data: try source(next, count)), requestID: id32)
                inFlight[id32] = next + UInt64(count)
                next += UInt64(count)
            }
            if refusal == nil, next >= stop, stop < end { return stored }  // the cut: in-flight writes are abandoned
            let (requestID, answer) = try await nextAnswer(among: inFlight.keys, type: .attachWrite)
            inFlight[requestID] = nil
            switch answer {
            case .success(.attachmentStored(let now)): stored = max(stored, now)
            case .success: throw Failure.broken("ATTACH_WRITE answered with another result")
            case .failure(let error): refusal = refusal ?? error  // the writes after it fail too: read their answers
            }
        }
        if let refusal { throw Failure.refused(refusal) }
        return stored
    }

    /// Finishes an upload cut earlier: asks ATTACH_STATUS where it stands and writes the rest.
    /// A write that the cut connection left running may still land meanwhile; a `wrongOffset`
    /// is then answered by asking again, up to `attempts` times.
    public mutating func resumeUpload(_ id: AttachmentID, attempts: Int = 5, source: (UInt64, Int) throws -> ByteBuffer) async throws -> UInt64 {
        var tries = 0
        while true {
            let status = try await status(id)
            do {
                return try await upload(id, from: status.stored, to: status.size, source: source)
            } catch Failure.refused(let error) where error.knownCode == .wrongOffset && tries < attempts {
                tries += 1
            }
        }
    }

    /// Reads `[offset, end)` of attachment `id` in order into `sink`.
    ///
    /// - Parameter cutAt: stop asking once this offset is reached and return at once, with
    ///   reads still in flight.
    /// - Returns: the offset up to which `sink` has the bytes.
    public mutating func download(_ id: AttachmentID, from offset: UInt64, to end: UInt64, cutAt: UInt64? = nil,
                                  sink: (ByteBuffer) throws -> Void) async throws -> UInt64 {
        var next = offset
        var have = offset
        var inFlight: [UInt32: UInt64] = [:]
        var arrived: [UInt64: ByteBuffer] = [:]
        var refusal: V3Error?
        let stop = min(end, cutAt ?? end)
        while refusal == nil ? have < end : !inFlight.isEmpty {
            while refusal == nil, inFlight.count < window, next < stop {
                let count = UInt32(min(UInt64(chunk), stop - next))
                let id32 = takeID()
                try await session.send(.attachRead(id, offset: next, length: count), requestID: id32)
                inFlight[id32] = next
                next += UInt64(count)
            }
            if refusal == nil, next >= stop, stop < end { return have }
            let (requestID, answer) = try await nextAnswer(among: inFlight.keys, type: .attachRead)
            let at = inFlight.removeValue(forKey: requestID)!
            switch answer {
            case .success(.attachmentData(let data)) where data.readableBytes > 0:
                arrived[at] = data
            case .success:
                throw Failure.broken("ATTACH_READ at \(at) answered with no data")
            case .failure(let error):
                refusal = refusal ?? error
            }
            while let data = arrived.removeValue(forKey: have) {
                try sink(data)
                have += UInt64(data.readableBytes)
            }
        }
        if let refusal { throw Failure.refused(refusal) }
        return have
    }

    private mutating func takeID() -> UInt32 {
        defer { nextID = nextID == UInt32.max ? 1 : nextID + 1 }
        return nextID
    }

    private func answer(to id: UInt32, type: V3RequestType) async throws -> V3Result {
        let (_, answer) = try await nextAnswer(among: [id: 0].keys, type: type)
        return try answer.mapError { Failure.refused($0) }.get()
    }

    /// The next RESULT or ERROR to one of `ids`, skipping pushed frames.
    private func nextAnswer(among ids: Dictionary<UInt32, UInt64>.Keys, type: V3RequestType) async throws -> (UInt32, Result<V3Result, V3Error>) {
        while let message = try await session.next() {
            switch message {
            case .result(let id, let body) where ids.contains(id):
                return (id, .success(try V3Result.decode(answering: type, body: body)))
            case .error(let id, let error) where ids.contains(id):
                return (id, .failure(error))
            case .error(0, let error):
                throw Failure.refused(error)
            case .delivery, .notice, .ignored, .hello:
                continue
            default:
                throw Failure.broken("an answer to no request in flight: \(message)")
            }
        }
        throw Failure.broken("the server closed the session")
    }
}
