import Application
import Domain
import Logging
import NIOCore

/// Serves the one request of one connection: run the use case, reply, close.
///
/// Replies are written straight to the channel so that each write's completion is
/// known: a pull's messages are acknowledged only after the last byte of the reply was
/// handed to the kernel (PROTOCOL.md, "Known defects").
struct SeedConnection: Sendable {
    let useCases: ServerUseCases
    let configuration: SeedServerConfiguration
    let logger: Logger

    /// Serves a request that arrived whole, then closes the connection.
    func serve(_ request: SeedRequest, channel: any Channel) async {
        var logger = connectionLogger(channel)
        do {
            if let reply = try await respond(to: request, channel: channel, logger: &logger) {
                // Write and close on the event loop, without coming back here: one hop
                // fewer per request. The message was committed before this reply.
                channel.writeAndFlush(reply).whenComplete { _ in channel.close(promise: nil) }
                return
            }
        } catch {
            await refuseQuietly(error, channel: channel, logger: logger)
        }
        try? await channel.close()
    }

    /// Serves a send whose content streams in through `pieces`, then closes the connection.
    func serveUpload(_ header: SeedRequestHeader, _ message: MessageHeader, pieces: ContentPipe, channel: any Channel) async {
        var logger = connectionLogger(channel)
        logger[metadataKey: "client"] = .stringConvertible(header.clientID)
        logger[metadataKey: "code"] = .stringConvertible(header.code.rawValue)
        do {
            try await useCases.send.admit(message)
            let id = try await receiveUpload(message, pieces: pieces)
            logger.debug("stored streamed content", metadata: ["message": "\(id)", "bytes": "\(message.contentSize)"])
            try await channel.writeAndFlush(SeedResponse.sent(to: message.recipient, id: id, allocator: channel.allocator))
        } catch {
            await refuseQuietly(error, channel: channel, logger: logger)
        }
        try? await channel.close()
    }

    /// Answers a request that could not be decoded, then closes the connection.
    func serveUndecodable(_ error: any Error, channel: any Channel) async {
        await refuseQuietly(error, channel: channel, logger: connectionLogger(channel))
        try? await channel.close()
    }

    private func connectionLogger(_ channel: any Channel) -> Logger {
        var logger = self.logger
        // Metadata is rendered only when something is logged: nothing is formatted on the
        // fast path.
        if let peer = channel.remoteAddress { logger[metadataKey: "peer"] = .stringConvertible(peer) }
        return logger
    }

    /// Runs the request; returns the reply to write, or `nil` when it was written already
    /// (a pull, which must know that its reply went out before it deletes anything).
    private func respond(to request: SeedRequest, channel: any Channel, logger: inout Logger) async throws -> ByteBuffer? {
        let allocator = channel.allocator
        logger[metadataKey: "client"] = .stringConvertible(request.header.clientID)
        logger[metadataKey: "code"] = .stringConvertible(request.header.code.rawValue)
        switch request {
        case .register(_, let nameField, let publicKey):
            let name = try ClientName(field: nameField.readableBytesView)
            let key = try PublicKey(bytes: Array(publicKey.readableBytesView))
            let id = try await useCases.register(name: name, publicKey: key)
            logger.debug("registered", metadata: ["name": "\(name)", "id": "\(id)"])
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
            logger.debug("stored", metadata: ["message": "\(id)", "to": "\(message.recipient)"])
            return SeedResponse.sent(to: message.recipient, id: id, allocator: allocator)
        case .pull(let header):
            try await pull(for: header.clientID, channel: channel, logger: logger)
            return nil
        }
    }

    /// Streams a large content from the socket into the store, in bounded pieces.
    private func receiveUpload(_ message: MessageHeader, pieces: ContentPipe) async throws -> MessageID {
        let upload = try await useCases.send.beginUpload(message)
        do {
            var pending: [UInt8] = []
            pending.reserveCapacity(configuration.uploadChunkSize)
            var received: UInt64 = 0
            while let piece = try await pieces.next() {
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
    /// messages only once all of it was written.
    private func pull(for requester: ClientID, channel: any Channel, logger: Logger) async throws {
        let claim = try await useCases.pull.begin(requester: requester)
        do {
            let allocator = channel.allocator
            var buffer = allocator.buffer(capacity: 4096)
            SeedResponse.writeHeader(.messages, payloadSize: UInt32(claim.wireSize), into: &buffer)
            // One write may be in flight while the next piece is fetched.
            var inFlight: EventLoopFuture<Void>? = nil
            func send(_ bytes: ByteBuffer) async throws {
                let promise = channel.eventLoop.makePromise(of: Void.self)
                channel.writeAndFlush(bytes, promise: promise)
                let future = promise.futureResult
                if let previous = inFlight { try await previous.get() }
                inFlight = future
            }
            for message in claim.messages {
                SeedResponse.writeEntryHeader(message, into: &buffer)
                if let content = message.inlineContent {
                    buffer.writeBytes(content)
                    if buffer.readableBytes >= 256 * 1024 {
                        try await send(buffer)
                        buffer = allocator.buffer(capacity: 4096)
                    }
                    continue
                }
                try await send(buffer)
                buffer = allocator.buffer(capacity: 4096)
                let reader = try await useCases.pull.content(of: message, in: claim)
                do {
                    var sent: UInt64 = 0
                    while let piece = try await reader.next() {
                        sent += UInt64(piece.count)
                        guard sent <= UInt64(message.contentSize) else {
                            throw StoreError.sizeMismatch(declared: UInt64(message.contentSize), written: sent)
                        }
                        try await send(ByteBuffer(bytes: piece))
                    }
                    guard sent == UInt64(message.contentSize) else {
                        throw StoreError.sizeMismatch(declared: UInt64(message.contentSize), written: sent)
                    }
                } catch {
                    await reader.close()
                    throw error
                }
                await reader.close()
            }
            if buffer.readableBytes > 0 { try await send(buffer) }
            if let last = inFlight { try await last.get() }
        } catch {
            logger.info("pull reply not delivered; messages return to the inbox", metadata: ["error": "\(error)", "messages": "\(claim.messages.count)"])
            await useCases.pull.abandon(claim)
            // Part of the reply may be out already: a 9000 now would corrupt it.
            throw ReplyInterrupted(underlying: error)
        }
        try await useCases.pull.complete(claim)
        logger.debug("delivered", metadata: ["messages": "\(claim.messages.count)"])
    }

    /// Refuses, ignoring a peer that is already gone.
    private func refuseQuietly(_ error: any Error, channel: any Channel, logger: Logger) async {
        do {
            try await refuse(error, channel: channel, logger: logger)
        } catch {
            // The peer went away (the original client resets after reading 4 bytes of a
            // 1003). What was stored stays stored.
            logger.debug("connection ended with an error", metadata: ["error": "\(error)"])
        }
    }

    /// The one place where failures become the protocol's 9000.
    private func refuse(_ error: any Error, channel: any Channel, logger: Logger) async throws {
        switch error {
        case let error as DomainError:
            logger.info("request refused", metadata: ["reason": "\(error)"])
        case let error as SeedDecodeError:
            logger.info("malformed request", metadata: ["reason": "\(error)"])
        case let error as StoreError:
            logger.error("storage failed", metadata: ["reason": "\(error)"])
        case is ChannelError, is IOError, is ReplyInterrupted:
            // The connection itself failed; there is nobody to answer.
            logger.debug("connection failed", metadata: ["error": "\(error)"])
            return
        default:
            logger.error("request failed", metadata: ["error": "\(error)"])
        }
        guard channel.isActive else { return }
        try await channel.writeAndFlush(SeedResponse.failure(allocator: channel.allocator))
    }
}

/// A reply failed after some of it was written; the connection can only be closed.
struct ReplyInterrupted: Error {
    let underlying: any Error
}
