import Application
import Domain
import NIOCore
import NIOPosix
import NIOSSL
import SealpostWire

/// The attachment calls of the port (docs/protocol-v3.md §9): uploads and downloads keep a
/// window of requests in flight on the session.
extension SecureAccountConnection {
    public var maxAttachmentChunk: Int { Int(hello.maxFrameBytes) - 64 }

    public func createAttachment(size: UInt64, recipients: [AccountID]) async throws -> AttachmentID {
        guard case .attachmentCreated(let id) = try await session.perform(.attachCreate(size: size, recipients: recipients)) else {
            throw mismatch("ATTACH_CREATE")
        }
        return id
    }

    public func attachmentStatus(_ id: AttachmentID) async throws -> (size: UInt64, stored: UInt64) {
        guard case .attachmentStatus(let status) = try await session.perform(.attachStatus(id)) else { throw mismatch("ATTACH_STATUS") }
        return (status.size, status.stored)
    }

    public func writeAttachment(_ id: AttachmentID, from offset: UInt64, window: Int,
                                next: () async throws -> [UInt8]?) async throws -> UInt64 {
        var at = offset
        var stored = offset
        var inFlight: [UInt32] = []
        var more = true
        // Each write is submitted after the one before it, so they reach the server in order.
        while more || !inFlight.isEmpty {
            while more, inFlight.count < max(1, window) {
                guard let chunk = try await next() else {
                    more = false
                    break
                }
                guard chunk.count <= maxAttachmentChunk else {
                    throw AccountServerError.invalidRequest("an attachment chunk of \(chunk.count) bytes is over \(maxAttachmentChunk)")
                }
                if chunk.isEmpty { continue }
                inFlight.append(try await session.submit(.attachWrite(id, offset: at, data: ByteBuffer(bytes: chunk))))
                at += UInt64(chunk.count)
            }
            guard !inFlight.isEmpty else { break }
            guard case .attachmentStored(let now) = try await session.answer(to: inFlight.removeFirst()) else {
                throw mismatch("ATTACH_WRITE")
            }
            stored = max(stored, now)
        }
        return stored
    }

    public func readAttachment(_ id: AttachmentID, from offset: UInt64, to end: UInt64, window: Int,
                               sink: ([UInt8]) async throws -> Void) async throws {
        let chunk = UInt64(maxAttachmentChunk)
        var next = offset
        var have = offset
        var inFlight: [(id: UInt32, at: UInt64)] = []
        while have < end {
            while inFlight.count < max(1, window), next < end {
                let count = min(chunk, end - next)
                inFlight.append((try await session.submit(.attachRead(id, offset: next, length: UInt32(count))), next))
                next += count
            }
            let (request, at) = inFlight.removeFirst()
            guard case .attachmentData(let data) = try await session.answer(to: request) else { throw mismatch("ATTACH_READ") }
            guard at == have, data.readableBytes > 0 else {
                throw AccountServerError.invalidAnswer(request: "ATTACH_READ", reason: "no data at offset \(at)")
            }
            try await sink(Array(data.readableBytesView))
            have += UInt64(data.readableBytes)
        }
    }

    public func finishAttachment(_ id: AttachmentID) async throws {
        guard case .attachmentRecipientsLeft = try await session.perform(.attachDone(id)) else { throw mismatch("ATTACH_DONE") }
    }
}
