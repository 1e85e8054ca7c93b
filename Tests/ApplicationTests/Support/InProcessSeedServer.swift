import Application
import Domain
import Synchronization

/// The client's server port answered by the server's own use cases, in process: what the
/// client use cases ask and what they get back is the real server's behaviour, without a
/// socket. Every request is logged; a pull can be made to break off.
final class InProcessSeedServer: SeedServerConnection {
    /// One request, as the client made it.
    enum Request: Hashable, Sendable {
        case register(name: ClientName)
        case list(requester: ClientID)
        case publicKey(target: ClientID, requester: ClientID)
        case send(kind: MessageKind, content: [UInt8], to: ClientID, from: ClientID)
        case pull(requester: ClientID)
    }

    let server: ServerFixture
    private let log = Mutex<[Request]>([])
    /// When set, a pull breaks off after this many whole messages (the next one ends with
    /// a transport error) and the claim is abandoned.
    let cutPullAfter = Mutex<Int?>(nil)
    /// Contents are handed to the receiver in pieces of this size.
    let pieceSize: Int

    init(_ server: ServerFixture, pieceSize: Int = 1000) {
        self.server = server
        self.pieceSize = pieceSize
    }

    var requests: [Request] { log.withLock { $0 } }

    /// The sends made so far.
    var sends: [(kind: MessageKind, content: [UInt8], to: ClientID, from: ClientID)] {
        requests.compactMap { request in
            if case .send(let kind, let content, let to, let from) = request { return (kind, content, to, from) }
            return nil
        }
    }

    func clearLog() { log.withLock { $0 = [] } }

    private func note(_ request: Request) { log.withLock { $0.append(request) } }

    /// Runs a use case, turning a refusal into the 9000 the client would see.
    private func answer<T>(_ request: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch is DomainError {
            throw ClientError.server(request: request)
        } catch is StoreError {
            throw ClientError.server(request: request)
        }
    }

    func register(name: ClientName, publicKey: PublicKey) async throws -> ClientID {
        note(.register(name: name))
        return try await answer("register") { try await server.useCases.register(name: name, publicKey: publicKey) }
    }

    func listClients(requester: ClientID) async throws -> [ClientSummary] {
        note(.list(requester: requester))
        return try await answer("list clients") {
            try await server.useCases.listClients(requester: requester).map { ClientSummary(id: $0.id, name: $0.name) }
        }
    }

    func publicKey(of target: ClientID, requester: ClientID) async throws -> PublicKey {
        note(.publicKey(target: target, requester: requester))
        return try await answer("get public key") {
            try await server.useCases.lookUpPublicKey(requester: requester, target: target).publicKey
        }
    }

    func send(_ kind: MessageKind, content: [UInt8], to recipient: ClientID, from sender: ClientID) async throws -> MessageID {
        note(.send(kind: kind, content: content, to: recipient, from: sender))
        return try await answer("send message") { try await server.send(kind, content, from: sender, to: recipient) }
    }

    func send(
        _ kind: MessageKind, contentSize: UInt32, content: any OutgoingContent,
        to recipient: ClientID, from sender: ClientID
    ) async throws -> MessageID {
        var bytes: [UInt8] = []
        while let piece = try await content.nextChunk() { bytes += piece }
        note(.send(kind: kind, content: bytes, to: recipient, from: sender))
        guard bytes.count == Int(contentSize) else {
            throw ClientError.transport(request: "send message", reason: "\(bytes.count) bytes produced, \(contentSize) declared")
        }
        return try await answer("send message") { try await server.send(kind, bytes, from: sender, to: recipient) }
    }

    func pull(requester: ClientID, into receiver: any PulledMessageReceiver) async throws {
        note(.pull(requester: requester))
        var sink = ForwardingSink(receiver: receiver, cutAt: cutPullAfter.withLock { $0 }, pieceSize: pieceSize)
        do {
            _ = try await answer("pull messages") {
                try await server.useCases.deliver(for: requester, budget: ServerFixture.pullBudget, into: &sink)
            }
        } catch let interrupted as DeliverInbox.Interrupted {
            throw interrupted.underlying
        }
    }
}

/// Hands a delivery to the client's receiver as the client transport would, message by
/// message in pieces; at message `cutAt` it gives half the content and fails, like a
/// connection reset in the middle of a reply.
struct ForwardingSink: MessageSink {
    let receiver: any PulledMessageReceiver
    let cutAt: Int?
    let pieceSize: Int
    private var index = -1
    private var current: Envelope?
    private var content: [UInt8] = []

    init(receiver: any PulledMessageReceiver, cutAt: Int?, pieceSize: Int) {
        self.receiver = receiver
        self.cutAt = cutAt
        self.pieceSize = pieceSize
    }

    mutating func begin(_ messages: [Envelope]) async throws {}

    mutating func beginMessage(_ message: Envelope) async throws {
        try await endMessage()
        index += 1
        current = message
        content = message.inlineContent ?? []
    }

    mutating func write(_ piece: [UInt8]) async throws {
        content += piece
    }

    mutating func finish() async throws {
        try await endMessage()
    }

    private mutating func endMessage() async throws {
        guard let message = current else { return }
        current = nil
        await receiver.begin(PulledMessageHeader(sender: message.sender, id: message.id, type: message.kind.rawValue, contentSize: message.contentSize))
        if index == cutAt {
            await receiver.content(Array(content.prefix(content.count / 2)))
            let error = ClientError.transport(request: "pull messages", reason: "connection reset")
            await receiver.end(error: error)
            throw error
        }
        for start in stride(from: 0, to: content.count, by: pieceSize) {
            await receiver.content(Array(content[start..<min(start + pieceSize, content.count)]))
        }
        await receiver.end(error: nil)
    }
}
