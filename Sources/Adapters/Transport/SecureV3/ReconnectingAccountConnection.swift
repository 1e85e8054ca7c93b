import Application
import Domain
import NIOCore
import NIOPosix
import SealpostWire
import Synchronization

/// An `AccountServerConnection` that outlives its sessions: when the connection drops, it
/// connects again after a `ReconnectBackoff` wait (exponential, capped, jittered),
/// authenticates again as the account it last registered or authenticated, and resumes
/// `events`, which report each attempt (`.reconnecting`) and success (`.reconnected`).
///
/// - Requests in flight on the dead connection fail with `.connectionLost`; they are not
///   sent again (a SEND twice would store the envelope twice). A request made while
///   reconnecting waits for the new session.
/// - The server delivers again what was not acknowledged (docs/protocol-v3.md §6.2). `events`
///   never shows one message id twice in this process: the most recent ids are remembered
///   (a bounded number of them). A redelivered message that was already acknowledged here is
///   acknowledged again on the new session, so it does not stay in the server's window.
/// - A server that fails verification (its key is not the one expected) is never tried
///   again: `events` and every request then throw `.untrustedServer`. So does an account
///   that can no longer authenticate (`.refused(.authenticationFailed)`), and, when
///   `maxAttempts` is given, a server that could not be reached that many times in a row.
public final class ReconnectingAccountConnection: AccountServerConnection, Sendable {
    /// Opens one new session.
    public typealias Connector = @Sendable () async throws -> SecureAccountConnection

    private struct Credentials {
        let account: AccountID
        let signer: any AccountSigner
    }

    private struct State {
        var current: SecureAccountConnection?
        /// Requests waiting for the next session, by ticket.
        var waiters: [Int: CheckedContinuation<SecureAccountConnection, any Error>] = [:]
        var nextTicket = 0
        /// Tickets cancelled before their request began to wait.
        var cancelledTickets: Set<Int> = []
        var credentials: Credentials?
        /// Set once the wrapper has given up, or was closed (`.closed`).
        var finished: AccountServerError?
        var recent: RecentMessageIDs
        var supervisor: Task<Void, Never>?
    }

    public let events: AsyncThrowingStream<AccountServerEvent, any Error>
    private let sink: AsyncThrowingStream<AccountServerEvent, any Error>.Continuation
    private let connector: Connector
    private let backoff: ReconnectBackoff
    private let maxAttempts: Int?
    private let state: Mutex<State>

    private init(connector: @escaping Connector, backoff: ReconnectBackoff, maxAttempts: Int?, recentMessageIDs: Int) {
        self.connector = connector
        self.backoff = backoff
        self.maxAttempts = maxAttempts
        state = Mutex(State(recent: RecentMessageIDs(capacity: recentMessageIDs)))
        (events, sink) = AsyncThrowingStream.makeStream()
    }

    /// Opens the first session with `connector` (its failure is thrown as it is, and not
    /// retried), then keeps one open.
    ///
    /// - Parameters:
    ///   - maxAttempts: failed attempts in a row after which it gives up (`events` and every
    ///     request then throw the last attempt's error); nil to try for ever.
    ///   - recentMessageIDs: how many delivered ids are remembered to drop redeliveries.
    public static func connect(
        backoff: ReconnectBackoff = ReconnectBackoff(), maxAttempts: Int? = nil, recentMessageIDs: Int = 10_000, connector: @escaping Connector
    ) async throws -> ReconnectingAccountConnection {
        let first = try await connector()
        let wrapper = ReconnectingAccountConnection(connector: connector, backoff: backoff, maxAttempts: maxAttempts, recentMessageIDs: recentMessageIDs)
        let supervisor = Task { await wrapper.supervise(first) }
        wrapper.state.withLock { $0.supervisor = supervisor }
        return wrapper
    }

    /// Connects to `host:port` as `SecureAccountConnection.connect` does, for every session.
    public static func connect(
        host: String, port: Int, verification: ServerVerification, backoff: ReconnectBackoff = ReconnectBackoff(), maxAttempts: Int? = nil,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        maxFrameBytes: UInt32 = V3Frame.defaultMaxLength, connectTimeout: TimeAmount = .seconds(10), helloTimeout: TimeAmount = .seconds(10)
    ) async throws -> ReconnectingAccountConnection {
        try await connect(backoff: backoff, maxAttempts: maxAttempts) {
            try await SecureAccountConnection.connect(
                host: host, port: port, verification: verification, group: group, maxFrameBytes: maxFrameBytes,
                connectTimeout: connectTimeout, helloTimeout: helloTimeout)
        }
    }

    /// Closes the session and stops reconnecting. Requests waiting fail with `.closed`;
    /// `events` finishes.
    public func close() async {
        let (current, waiters, supervisor) = state.withLock { state in
            if state.finished == nil { state.finished = .closed }
            defer { state.waiters = [:] }
            return (state.current, state.waiters.values, state.supervisor)
        }
        for waiter in waiters { waiter.resume(throwing: AccountServerError.closed) }
        supervisor?.cancel()
        await current?.close()
        await supervisor?.value
        sink.finish()
    }

    // MARK: The port

    public func register(name: AccountName, signer: any AccountSigner, signedPrekey: Prekey, oneTimePrekeys: [Prekey]) async throws -> AccountID {
        let account = try await connection().register(name: name, signer: signer, signedPrekey: signedPrekey, oneTimePrekeys: oneTimePrekeys)
        state.withLock { $0.credentials = Credentials(account: account, signer: signer) }
        return account
    }

    public func authenticate(account: AccountID, signer: any AccountSigner) async throws -> Int {
        let connection = try await connection()
        // Recorded before the answer, so that a reconnection racing with it authenticates too.
        state.withLock { $0.credentials = Credentials(account: account, signer: signer) }
        do {
            return try await connection.authenticate(account: account, signer: signer)
        } catch let error as AccountServerError where error.code == .authenticationFailed {
            state.withLock { $0.credentials = nil }
            throw error
        }
    }

    public func uploadPrekeys(_ prekeys: [Prekey]) async throws -> Int { try await connection().uploadPrekeys(prekeys) }
    public func countPrekeys() async throws -> Int { try await connection().countPrekeys() }
    public func replaceSignedPrekey(_ prekey: Prekey) async throws { try await connection().replaceSignedPrekey(prekey) }
    public func lookup(name: AccountName) async throws -> Account { try await connection().lookup(name: name) }
    public func list(after: AccountName?, limit: Int) async throws -> AccountDirectoryPage { try await connection().list(after: after, limit: limit) }
    public func fetchBundle(of account: AccountID) async throws -> PrekeyBundle { try await connection().fetchBundle(of: account) }
    public func send(_ envelope: [UInt8], to recipient: AccountID) async throws -> SentEnvelope { try await connection().send(envelope, to: recipient) }
    public func ping() async throws { try await connection().ping() }
    public var maxAttachmentChunk: Int { get async throws { try await connection().maxAttachmentChunk } }
    public func createAttachment(size: UInt64, recipients: [AccountID]) async throws -> AttachmentID {
        try await connection().createAttachment(size: size, recipients: recipients)
    }
    public func attachmentStatus(_ id: AttachmentID) async throws -> (size: UInt64, stored: UInt64) { try await connection().attachmentStatus(id) }
    public func writeAttachment(_ id: AttachmentID, from offset: UInt64, window: Int,
                                next: () async throws -> [UInt8]?) async throws -> UInt64 {
        try await connection().writeAttachment(id, from: offset, window: window, next: next)
    }
    public func readAttachment(_ id: AttachmentID, from offset: UInt64, to end: UInt64, window: Int,
                               sink: ([UInt8]) async throws -> Void) async throws {
        try await connection().readAttachment(id, from: offset, to: end, window: window, sink: sink)
    }
    public func finishAttachment(_ id: AttachmentID) async throws { try await connection().finishAttachment(id) }

    public func acknowledge(_ messageIDs: [UInt64]) async throws -> Int {
        state.withLock { state in
            for id in messageIDs { state.recent.markAcknowledged(id) }
        }
        return try await connection().acknowledge(messageIDs)
    }

    /// The open session, or the next one once it is open. A request cancelled while it waits
    /// throws `CancellationError`.
    private func connection() async throws -> SecureAccountConnection {
        let ticket = state.withLock { state in
            state.nextTicket += 1
            return state.nextTicket
        }
        // The handler runs only while the wait does, so a ticket it marks is unmarked here.
        defer { _ = state.withLock { $0.cancelledTickets.remove(ticket) } }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let ready: Result<SecureAccountConnection, any Error>? = state.withLock { state in
                    if let finished = state.finished { return .failure(finished) }
                    if let current = state.current, current.endReason == nil { return .success(current) }
                    if state.cancelledTickets.remove(ticket) != nil { return .failure(CancellationError()) }
                    state.waiters[ticket] = continuation
                    return nil
                }
                if let ready { continuation.resume(with: ready) }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                let waiter = state.waiters.removeValue(forKey: ticket)
                if waiter == nil { state.cancelledTickets.insert(ticket) }
                return waiter
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    // MARK: The supervisor

    /// Forwards the events of each session in turn, and opens the next when one ends.
    private func supervise(_ first: SecureAccountConnection) async {
        var connection = first
        var generator = SystemRandomNumberGenerator()
        while true {
            guard publish(connection) else {
                await connection.close()
                return
            }
            let reason = await forward(connection)
            state.withLock { if $0.current === connection { $0.current = nil } }
            if isFinished { return }
            var attempt = 1
            var why = reason
            while true {
                var delay = backoff.delay(attempt: attempt, using: &generator)
                if case .refused(_, let retryAfter?, _) = why, retryAfter > delay { delay = retryAfter }
                sink.yield(.reconnecting(attempt: attempt, delay: delay, reason: why.description))
                do { try await Task.sleep(for: delay) } catch { return }
                if isFinished { return }
                do {
                    connection = try await reconnect()
                    sink.yield(.reconnected)
                    break
                } catch let error as AccountServerError where Self.isFatal(error) {
                    giveUp(error)
                    return
                } catch {
                    why = error as? AccountServerError ?? .cannotConnect(server: "the server", reason: "\(error)")
                    if let maxAttempts, attempt >= maxAttempts {
                        giveUp(why)
                        return
                    }
                    attempt += 1
                }
            }
        }
    }

    /// Verification failures and refusals that would be the same next time end the wrapper.
    private static func isFatal(_ error: AccountServerError) -> Bool {
        switch error {
        case .untrustedServer, .invalidRequest, .closed: true
        case .refused: !error.isRetryable
        case .cannotConnect, .connectionLost, .protocolViolation, .invalidAnswer: false
        }
    }

    /// A new session, authenticated again when the last one was.
    private func reconnect() async throws -> SecureAccountConnection {
        let next = try await connector()
        if let credentials = state.withLock({ $0.credentials }) {
            do {
                _ = try await next.authenticate(account: credentials.account, signer: credentials.signer)
            } catch {
                await next.close()
                throw error
            }
        }
        return next
    }

    private var isFinished: Bool { state.withLock { $0.finished != nil } }

    /// Makes `connection` the current one and hands it to the requests waiting. False when
    /// the wrapper is closed already.
    private func publish(_ connection: SecureAccountConnection) -> Bool {
        let waiters: Dictionary<Int, CheckedContinuation<SecureAccountConnection, any Error>>.Values? = state.withLock { state in
            guard state.finished == nil else { return nil }
            state.current = connection
            defer { state.waiters = [:] }
            return state.waiters.values
        }
        guard let waiters else { return false }
        for waiter in waiters { waiter.resume(returning: connection) }
        return true
    }

    private func giveUp(_ error: AccountServerError) {
        let waiters = state.withLock { state in
            if state.finished == nil { state.finished = error }
            defer { state.waiters = [:] }
            return state.waiters.values
        }
        for waiter in waiters { waiter.resume(throwing: error) }
        sink.finish(throwing: error)
    }

    /// Passes `connection`'s events on, each message id once; returns why the session ended.
    /// A redelivery already acknowledged here is acknowledged again beside the loop, so that
    /// the events behind it are not held up by the answer.
    private func forward(_ connection: SecureAccountConnection) async -> AccountServerError {
        enum Seen { case new, acknowledged, pending }
        return await withDiscardingTaskGroup { group in
            do {
                for try await event in connection.events {
                    guard case .delivery(let delivery) = event else {
                        sink.yield(event)
                        continue
                    }
                    let seen = state.withLock { state -> Seen in
                        if state.recent.insert(delivery.messageID) { return .new }
                        return state.recent.isAcknowledged(delivery.messageID) ? .acknowledged : .pending
                    }
                    switch seen {
                    case .new: sink.yield(event)
                    case .acknowledged: group.addTask { _ = try? await connection.acknowledge([delivery.messageID]) }
                    case .pending: break
                    }
                }
            } catch let error as AccountServerError {
                return error
            } catch {
                return .connectionLost(server: connection.server, reason: "\(error)")
            }
            return connection.endReason ?? .closed
        }
    }
}
