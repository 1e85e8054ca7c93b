import Adapters
@testable import Application
import Domain
import Synchronization

/// The server's use cases over the in-memory stores and a manual clock.
struct ServerFixture {
    let directory = InMemoryClientDirectory()
    let store: InMemoryMessageStore
    let clock = ManualClock()
    let limits: ServerLimits
    let useCases: ServerUseCases

    init(limits: ServerLimits = ServerLimits(), newID: @escaping @Sendable () -> ClientID = RegisterClient.randomID) {
        self.limits = limits
        store = InMemoryMessageStore(inlineLimit: limits.inlineContentLimit)
        useCases = ServerUseCases(directory: directory, store: store, limits: limits, clock: clock, newID: newID)
    }

    var recognize: RecognizeClient { RecognizeClient(directory: directory, clock: clock) }

    /// Registers `name` with a public key of `fill` bytes.
    @discardableResult
    func register(_ name: String, key fill: UInt8 = 0x30) async throws -> ClientID {
        try await useCases.register(name: try ClientName(name), publicKey: samplePublicKey(fill))
    }

    /// Stores a message through the send use case, as a request would.
    @discardableResult
    func send(_ kind: MessageKind, _ content: [UInt8], from sender: ClientID, to recipient: ClientID) async throws -> MessageID {
        let header = MessageHeader(sender: sender, recipient: recipient, kind: kind, contentSize: UInt32(content.count))
        try await useCases.send.admit(header)
        return try await useCases.send.deliver(header, content: content)
    }

    /// What one v2 pull may carry (the v2 codec's budget, written out here).
    static let pullBudget = ClaimBudget(totalBytes: UInt64(UInt32.max), perMessageOverhead: 25)

    /// Delivers and acknowledges everything waiting for `recipient` (one claim's worth).
    func pullAll(_ recipient: ClientID) async throws -> [(envelope: Envelope, content: [UInt8])] {
        var sink = CollectingSink()
        try await useCases.deliver(for: recipient, budget: Self.pullBudget, into: &sink)
        return sink.messages
    }

    /// Frees the store's spill directory.
    func close() async { await store.shutdown() }
}

/// A 160-byte public key of one repeated byte.
func samplePublicKey(_ fill: UInt8 = 0x30) -> PublicKey {
    try! PublicKey(bytes: Array(repeating: fill, count: PublicKey.byteCount))
}

/// Runs `body` over a fresh fixture and frees it afterwards, however `body` ends.
func withServer<T>(
    limits: ServerLimits = ServerLimits(), newID: @escaping @Sendable () -> ClientID = RegisterClient.randomID,
    _ body: (ServerFixture) async throws -> T
) async throws -> T {
    let fixture = ServerFixture(limits: limits, newID: newID)
    do {
        let result = try await body(fixture)
        await fixture.close()
        return result
    } catch {
        await fixture.close()
        throw error
    }
}

/// Hands out the given ids in order, then random ones.
final class ScriptedIDs: Sendable {
    private let queue: Mutex<[ClientID]>
    init(_ ids: [ClientID]) { queue = Mutex(ids) }
    var draw: @Sendable () -> ClientID {
        { [self] in
            queue.withLock { $0.isEmpty ? RegisterClient.randomID() : $0.removeFirst() }
        }
    }
    var remaining: Int { queue.withLock { $0.count } }
}

/// A directory that counts what is asked of the one behind it.
final class CountingDirectory: ClientDirectory {
    let base = InMemoryClientDirectory()
    private let counts = Mutex<[String: Int]>([:])

    func count(_ operation: String) -> Int { counts.withLock { $0[operation, default: 0] } }
    private func note(_ operation: String) { counts.withLock { $0[operation, default: 0] += 1 } }

    func register(_ client: RegisteredClient) async throws {
        note("register")
        try base.register(client)
    }

    func client(withID id: ClientID) async throws -> RegisteredClient? {
        note("client")
        return base.client(withID: id)
    }

    func allClients() async throws -> [RegisteredClient] {
        note("allClients")
        return base.allClients()
    }

    func recordSeen(_ id: ClientID, at instant: Double) async {
        note("recordSeen")
        base.recordSeen(id, at: instant)
    }
}

/// A delivery collected in memory: each message with its whole content.
struct CollectingSink: MessageSink {
    private(set) var messages: [(envelope: Envelope, content: [UInt8])] = []
    private(set) var finished = false

    mutating func begin(_ messages: [Envelope]) async throws {}

    mutating func beginMessage(_ message: Envelope) async throws {
        messages.append((message, message.inlineContent ?? []))
    }

    mutating func write(_ piece: [UInt8]) async throws {
        messages[messages.count - 1].content += piece
    }

    mutating func finish() async throws {
        finished = true
    }
}
