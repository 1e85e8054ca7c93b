import Domain
import Synchronization

/// Push delivery for one authenticated session (docs/protocol-v3.md §6.2): it leases the
/// account's waiting envelopes, oldest first, up to the delivery window, hands them to the
/// session's transport, and leases more as acknowledgements free the window or new envelopes
/// are announced. Nothing polls: it waits for an `AccountEvent`, an acknowledgement, or the
/// lease renewal timer.
///
/// Leases make delivery "once in total": an envelope leased here is invisible to the account's
/// other sessions, here or on other servers, until this session acknowledges it (deleted) or
/// ends (`end()` releases it; a process that dies lets its leases run out).
public final class AccountDelivery: Sendable {
    /// What the session's transport is asked to send.
    public enum Push: Sendable, Hashable {
        /// Deliveries, oldest first.
        case envelopes([QueuedEnvelope])
        /// NOTICE `prekeysLow` with the count left.
        case prekeysLow(Int)
    }

    private enum Signal: Sendable {
        case event(AccountEvent)
        case room
        case renew
    }

    private struct State {
        var inFlight: Set<MessageID> = []
        var signals: AsyncStream<Signal>.Continuation?
        var ended = false
    }

    public let account: AccountID
    /// The lease holder of this session, drawn at random.
    public let holder: LeaseHolder
    private let queue: any EnvelopeQueue
    private let notifier: any DeliveryNotifier
    private let clock: any WallClock
    private let window: Int
    private let leaseSeconds: Double
    private let state = Mutex(State())

    /// - Parameter window: deliveries unacknowledged at once (`server.secure.deliveryWindow`).
    public init(account: AccountID, queue: any EnvelopeQueue, notifier: any DeliveryNotifier, clock: any WallClock,
                window: Int, limits: AccountLimits, holder: LeaseHolder = AccountDelivery.randomHolder()) {
        self.account = account
        self.holder = holder
        self.queue = queue
        self.notifier = notifier
        self.clock = clock
        self.window = max(1, window)
        self.leaseSeconds = limits.leaseSeconds
    }

    /// Deliveries sent and not yet acknowledged.
    public var inFlight: Int { state.withLock { $0.inFlight.count } }

    /// Runs until the task is cancelled (the session ended) or `push` throws (its connection
    /// failed). Call `end()` afterwards.
    ///
    /// - Parameter push: writes what it is given to the session; returns once written.
    public func run(_ push: @escaping @Sendable (Push) async throws -> Void) async throws {
        let (signals, continuation) = AsyncStream.makeStream(of: Signal.self, bufferingPolicy: .unbounded)
        let ended = state.withLock { state in
            state.signals = continuation
            return state.ended
        }
        guard !ended else { return }
        // Subscribed before the first lease, so nothing stored in between goes unannounced.
        let subscription = notifier.subscribe(account)
        defer {
            subscription.cancel()
            continuation.finish()
        }
        let renewEvery = Duration.milliseconds(Int64(leaseSeconds * 1000 / 3))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in subscription.events { continuation.yield(.event(event)) }
            }
            group.addTask {
                // Renewed here, beside the delivery loop rather than in it: a push held back by
                // a client that does not read must not let the leases of what it already
                // delivered run out while the session lives (another session would get them).
                // Only held leases are renewed: an idle session costs the store no write.
                while true {
                    try await Task.sleep(for: renewEvery)
                    if self.inFlight > 0 { try await self.queue.renew(self.holder, until: self.millisecondsFromNow(self.leaseSeconds)) }
                    continuation.yield(.renew)
                }
            }
            group.addTask { try await self.deliver(signals, push) }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    /// ACK: deletes those of `ids` addressed to the account, and frees the window for those this
    /// session delivered.
    ///
    /// - Returns: how many were deleted.
    public func acknowledge(_ ids: [MessageID]) async throws -> Int {
        let deleted = try await queue.acknowledge(ids, for: account)
        state.withLock { state in
            var freed = false
            for id in ids where state.inFlight.remove(id) != nil { freed = true }
            if freed { state.signals?.yield(.room) }
        }
        return deleted
    }

    /// The session is over: what it held and did not acknowledge goes back to the inbox, and
    /// the account's other sessions are told. Safe to call more than once.
    public func end() async {
        let held = state.withLock { state in
            let held = !state.inFlight.isEmpty
            state.ended = true
            state.inFlight = []
            state.signals?.finish()
            return held
        }
        do {
            try await queue.release(holder)
        } catch {
            // The leases run out on their own (`EnvelopeQueue.expireLeases`).
        }
        if held { await notifier.post(.envelopesWaiting, to: account) }
    }

    private func deliver(_ signals: AsyncStream<Signal>, _ push: @Sendable (Push) async throws -> Void) async throws {
        var waiting = true
        var iterator = signals.makeAsyncIterator()
        while !Task.isCancelled {
            let room = window - inFlight
            if waiting, room > 0 {
                let leased = try await queue.lease(for: account, to: holder, limit: room, until: millisecondsFromNow(leaseSeconds))
                if leased.count < room { waiting = false }
                guard !leased.isEmpty else { continue }
                let stillOpen = state.withLock { state in
                    guard !state.ended else { return false }
                    for envelope in leased { state.inFlight.insert(envelope.id) }
                    return true
                }
                guard stillOpen else {
                    // `end()` ran while this lease was being taken: give it back as well.
                    try? await queue.release(holder)
                    return
                }
                try await push(.envelopes(leased))
                continue
            }
            guard let signal = await iterator.next() else { return }
            switch signal {
            case .event(.envelopesWaiting):
                waiting = true
            case .event(.prekeysLow(let count)):
                try await push(.prekeysLow(count))
            case .room:
                break
            case .renew:
                // Leases of a process that died run out unannounced: look again now and then.
                waiting = true
            }
        }
    }

    private func millisecondsFromNow(_ seconds: Double) -> UInt64 {
        UInt64(max(0, (clock.now() + seconds) * 1000))
    }

    /// A lease holder drawn from the system's cryptographic random source.
    public static func randomHolder() -> LeaseHolder {
        var generator = SystemRandomNumberGenerator()
        return LeaseHolder(UInt64.random(in: 1 ... .max, using: &generator))
    }
}
