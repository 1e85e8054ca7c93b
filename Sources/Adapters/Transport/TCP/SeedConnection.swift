import Application
import Domain
import Logging
import NIOCore

/// Serves the one request of one connection: decode, run the use case, reply, close.
///
/// Replies are written straight to the channel so that each write's completion is
/// known: a pull's messages are acknowledged only after the last byte of the reply was
/// handed to the kernel (PROTOCOL.md, "Known defects").
struct SeedConnection: Sendable {
    let useCases: ServerUseCases
    let configuration: SeedServerConfiguration
    let logger: Logger

    typealias Parts = NIOAsyncChannelInboundStream<SeedRequestPart>.AsyncIterator

    func serve(_ connection: NIOAsyncChannel<SeedRequestPart, Never>) async {
        let channel = connection.channel
        var logger = self.logger
        // Metadata is rendered only when something is logged: nothing is formatted on the
        // fast path.
        if let peer = channel.remoteAddress { logger[metadataKey: "peer"] = .stringConvertible(peer) }
        do {
            try await connection.executeThenClose { inbound in
                var parts = inbound.makeAsyncIterator()
                do {
                    guard let first = try await parts.next() else { return }
                    try await respond(to: first, parts: &parts, channel: channel, logger: &logger)
                } catch {
                    try await refuse(error, channel: channel, logger: logger)
                }
            }
        } catch {
            // The peer went away while we wrote (the original client resets after
            // reading 4 bytes of a 1003). What was stored stays stored.
            logger.debug("connection ended with an error", metadata: ["error": "\(error)"])
        }
    }

    private func respond(to part: SeedRequestPart, parts: inout Parts, channel: any Channel, logger: inout Logger) async throws {
        let allocator = channel.allocator
        switch part {
        case .complete(let request):
            logger[metadataKey: "client"] = .stringConvertible(request.header.clientID)
            logger[metadataKey: "code"] = .stringConvertible(request.header.code.rawValue)
            switch request {
            case .register(_, let nameField, let publicKey):
                let name = try ClientName(field: nameField.readableBytesView)
                let key = try PublicKey(bytes: Array(publicKey.readableBytesView))
                let id = try await useCases.register(name: name, publicKey: key)
                logger.debug("registered", metadata: ["name": "\(name)", "id": "\(id)"])
                try await channel.writeAndFlush(SeedResponse.registered(id, allocator: allocator))
            case .listClients(let header):
                let clients = try await useCases.listClients(requester: header.clientID)
                try await channel.writeAndFlush(SeedResponse.clients(clients, allocator: allocator))
            case .publicKey(let header, let target):
                let client = try await useCases.lookUpPublicKey(requester: header.clientID, target: target)
                try await channel.writeAndFlush(SeedResponse.publicKey(of: client, allocator: allocator))
            case .send(_, let message, let content):
                try await useCases.send.admit(message)
                let id = try await useCases.send.deliver(message, content: Array(content.readableBytesView))
                logger.debug("stored", metadata: ["message": "\(id)", "to": "\(message.recipient)"])
                try await channel.writeAndFlush(SeedResponse.sent(to: message.recipient, id: id, allocator: allocator))
            case .pull(let header):
                try await pull(for: header.clientID, channel: channel, logger: logger)
            }
        case .sendHead(let header, let message):
            logger[metadataKey: "client"] = .stringConvertible(header.clientID)
            logger[metadataKey: "code"] = .stringConvertible(header.code.rawValue)
            try await useCases.send.admit(message)
            let id = try await receiveUpload(message, parts: &parts)
            logger.debug("stored streamed content", metadata: ["message": "\(id)", "bytes": "\(message.contentSize)"])
            try await channel.writeAndFlush(SeedResponse.sent(to: message.recipient, id: id, allocator: allocator))
        case .content:
            // The decoder emits these only after a sendHead.
            throw SeedDecodeError.truncated(missing: 0)
        }
    }

    /// Streams a large content from the socket into the store, in bounded pieces.
    private func receiveUpload(_ message: MessageHeader, parts: inout Parts) async throws -> MessageID {
        let upload = try await useCases.send.beginUpload(message)
        do {
            var pending: [UInt8] = []
            pending.reserveCapacity(configuration.uploadChunkSize)
            var finished = false
            while !finished, let part = try await parts.next() {
                switch part {
                case .content(let piece, let isLast):
                    pending.append(contentsOf: piece.readableBytesView)
                    if pending.count >= configuration.uploadChunkSize {
                        try await upload.write(pending)
                        pending.removeAll(keepingCapacity: true)
                    }
                    finished = isLast
                case .complete, .sendHead:
                    throw SeedDecodeError.truncated(missing: 0)
                }
            }
            guard finished else { throw SeedDecodeError.truncated(missing: 0) }
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
