import Application
import Domain
import Logging
import NIOCore
import SeedWire

/// Serves the one request of a protocol v2 connection: run the use case, reply, close.
///
/// Replies are written straight to the connection so that each write's completion is
/// known: a pull's messages are deleted only after the peer acknowledged the last byte of
/// the reply (docs/protocol-v2.md §7; `DeliverInbox` with a `SeedV2MessageSink`).
struct SeedV2Requests: Sendable {
    let useCases: ServerUseCases
    let configuration: SeedServerConfiguration
    let logger: Logger
    /// Replies are small buffers built once per request.
    static let allocator = ByteBufferAllocator()
    /// What one 1004 may carry: within its 32-bit payload size, at least one maximal
    /// message, with each message's entry head counted.
    var pullBudget: ClaimBudget {
        ClaimBudget.seedV2Pull(contentLimit: useCases.limits.maxPayload)
    }

    /// Serves a request that arrived whole, then closes the connection.
    func serve(_ request: SeedRequest, on connection: StreamConnection) async {
        do {
            if let reply = try await respond(to: request, on: connection) {
                // The message was committed before this reply.
                connection.writeAndClose(reply)
                return
            }
        } catch {
            await refuseQuietly(error, on: connection, request: request.header)
        }
        connection.close()
    }

    /// Serves a send whose content streams in, then closes the connection.
    func serveUpload(_ header: SeedRequestHeader, _ message: MessageHeader, from connection: StreamConnection) async {
        do {
            try await useCases.send.admit(message)
            let id = try await receiveUpload(message, from: connection)
            if logger.logLevel <= .debug {
                logger.debug("stored streamed content", metadata: metadata(connection, header).merging(["message": "\(id)", "bytes": "\(message.contentSize)"]) { $1 })
            }
            try await connection.write(SeedResponse.sent(to: message.recipient, id: id, allocator: Self.allocator))
        } catch {
            await refuseQuietly(error, on: connection, request: header)
        }
        connection.close()
    }

    /// Answers a request that could not be decoded, then closes the connection.
    func serveUndecodable(_ error: any Error, on connection: StreamConnection) async {
        await refuseQuietly(error, on: connection, request: nil)
        connection.close()
    }

    /// Log metadata, built only when a line is logged: nothing is formatted on the fast path.
    private func metadata(_ connection: StreamConnection, _ header: SeedRequestHeader?) -> Logger.Metadata {
        var metadata: Logger.Metadata = ["peer": "\(connection.peerDescription)"]
        if let header {
            metadata["client"] = "\(header.clientID)"
            metadata["code"] = "\(header.code.rawValue)"
        }
        return metadata
    }

    /// Runs the request; returns the reply to write, or `nil` when it was written already
    /// (a pull, which must know that its reply went out before it deletes anything).
    private func respond(to request: SeedRequest, on connection: StreamConnection) async throws -> ByteBuffer? {
        let allocator = Self.allocator
        switch request {
        case .register(_, let nameField, let publicKey):
            let name = try ClientName(field: nameField.readableBytesView)
            let key = try PublicKey(bytes: Array(publicKey.readableBytesView))
            let id = try await useCases.register(name: name, publicKey: key)
            if logger.logLevel <= .debug {
                logger.debug("registered", metadata: metadata(connection, request.header).merging(["name": "\(name)", "id": "\(id)"]) { $1 })
            }
            return SeedResponse.registered(id, allocator: allocator)
        case .listClients(let header):
            let clients = try await useCases.listClients(requester: header.clientID)
            return SeedResponse.clients(clients, allocator: allocator)
        case .publicKey(let header, let target):
            let client = try await useCases.lookUpPublicKey(requester: header.clientID, target: target)
            return SeedResponse.publicKey(of: client, allocator: allocator)
        case .send(_, let message, let content):
            try await useCases.send.admit(message)
            let id = try await useCases.send.deliver(message, content: Array(content.readableBytesView))
            if logger.logLevel <= .debug {
                logger.debug("stored", metadata: metadata(connection, request.header).merging(["message": "\(id)", "to": "\(message.recipient)"]) { $1 })
            }
            return SeedResponse.sent(to: message.recipient, id: id, allocator: allocator)
        case .pull(let header):
            try await pull(for: header.clientID, on: connection)
            return nil
        }
    }

    /// Streams a large content from the socket into the store, in bounded pieces.
    private func receiveUpload(_ message: MessageHeader, from connection: StreamConnection) async throws -> MessageID {
        let upload = try await useCases.send.beginUpload(message)
        do {
            var pending: [UInt8] = []
            pending.reserveCapacity(configuration.uploadChunkSize)
            var received: UInt64 = 0
            while let piece = try await connection.nextPiece() {
                received += UInt64(piece.readableBytes)
                pending.append(contentsOf: piece.readableBytesView)
                if pending.count >= configuration.uploadChunkSize {
                    try await upload.write(pending)
                    pending.removeAll(keepingCapacity: true)
                }
            }
            guard received == UInt64(message.contentSize) else {
                throw SeedDecodeError.truncated(missing: UInt64(message.contentSize) - received)
            }
            if !pending.isEmpty { try await upload.write(pending) }
            return try await upload.commit()
        } catch {
            await upload.abort()
            throw error
        }
    }

    /// Writes a 1004 reply, streaming large contents from the store, and deletes the
    /// messages only once the peer has all of it.
    private func pull(for requester: ClientID, on connection: StreamConnection) async throws {
        var sink = SeedV2MessageSink(connection: connection)
        do {
            let outcome = try await useCases.deliver(for: requester, budget: pullBudget, into: &sink)
            if logger.logLevel <= .debug {
                logger.debug("delivered", metadata: ["peer": "\(connection.peerDescription)", "messages": "\(outcome.messages)"])
            }
        } catch let interrupted as DeliverInbox.Interrupted {
            logger.info("pull reply not delivered; messages return to the inbox",
                        metadata: ["peer": "\(connection.peerDescription)", "error": "\(interrupted.underlying)", "messages": "\(interrupted.messages)"])
            // Part of the reply may be out already: a 9000 now would corrupt it.
            throw ReplyInterrupted(underlying: interrupted.underlying)
        }
    }

    /// Refuses, ignoring a peer that is already gone.
    private func refuseQuietly(_ error: any Error, on connection: StreamConnection, request: SeedRequestHeader?) async {
        do {
            try await refuse(error, on: connection, request: request)
        } catch {
            // The peer went away (the original client resets after reading 4 bytes of a
            // 1003). What was stored stays stored.
            logger.debug("connection ended with an error", metadata: ["error": "\(error)"])
        }
    }

    /// The one place where failures become the protocol's 9000.
    private func refuse(_ error: any Error, on connection: StreamConnection, request: SeedRequestHeader?) async throws {
        let about = { metadata(connection, request) }
        switch error {
        case let error as DomainError:
            logger.info("request refused", metadata: about().merging(["reason": "\(error)"]) { $1 })
        case let error as SeedDecodeError:
            logger.info("malformed request", metadata: about().merging(["reason": "\(error)"]) { $1 })
        case let error as StoreError:
            logger.error("storage failed", metadata: about().merging(["reason": "\(error)"]) { $1 })
        case is SocketError, is ReplyInterrupted:
            // The connection itself failed; there is nobody to answer.
            logger.debug("connection failed", metadata: ["error": "\(error)"])
            return
        default:
            logger.error("request failed", metadata: about().merging(["error": "\(error)"]) { $1 })
        }
        try await connection.write(SeedResponse.failure(allocator: Self.allocator))
    }
}

/// A reply failed after some of it was written; the connection can only be closed.
struct ReplyInterrupted: Error {
    let underlying: any Error
}

extension ClaimBudget {
    /// The budget of one protocol v2 pull: the codec's bound on a 1004 payload, and its
    /// entry head as the per-message overhead.
    public static func seedV2Pull(contentLimit: UInt32) -> ClaimBudget {
        ClaimBudget(totalBytes: SeedResponse.pullBudgetBytes(contentLimit: contentLimit), perMessageOverhead: SeedResponse.perMessageOverhead)
    }
}
