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
        /// NOTICE `caughtUp`: the first lease that found nothing more waiting. Once per session,
        /// after the deliveries of every envelope that was waiting (§6.3).
        case caughtUp
    }

    /// What woke the delivery loop since it last looked: flags, not a queue of events, so
    /// that any number of announcements while it leased or pushed cost one look.
    private struct Wake {
        /// New envelopes were announced.
        var envelopes = false
        /// An acknowledgement freed room in the window.
        var room = false
        /// The renewal timer ticked: look for envelopes whose leases ran out elsewhere.
        var look = false
        /// The newest `prekeysLow` count announced.
        var prekeysLow: Int?

        var isEmpty: Bool { !envelopes && !room && !look && prekeysLow == nil }
    }

    private struct State {
        var inFlight: Set<MessageID> = []
        var wake = Wake()
        /// The delivery loop, while it waits for a wake-up.
        var waiter: CheckedContinuation<Void, Never>?
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
        guard !state.withLock({ $0.ended }) else { return }
        // Subscribed before the first lease, so nothing stored in between goes unannounced.
        let subscription = notifier.subscribe(account)
        defer { subscription.cancel() }
        let renewEvery = Duration.milliseconds(Int64(leaseSeconds * 1000 / 3))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in subscription.events {
                    switch event {
                    case .envelopesWaiting: self.wake { $0.envelopes = true }
                    case .prekeysLow(let count): self.wake { $0.prekeysLow = count }
                    }
                }
            }
            group.addTask {
                // Renewed here, beside the delivery loop rather than in it: a push held back by
                // a client that does not read must not let the leases of what it already
                // delivered run out while the session lives (another session would get them).
                // Only held leases are renewed: an idle session costs the store no write.
                while true {
                    try await Task.sleep(for: renewEvery)
                    if self.inFlight > 0 { try await self.queue.renew(self.holder, until: self.millisecondsFromNow(self.leaseSeconds)) }
                    self.wake { $0.look = true }
                }
            }
            group.addTask { try await self.deliver(push) }
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
        state.withLock { state -> CheckedContinuation<Void, Never>? in
            var freed = false
            for id in ids where state.inFlight.remove(id) != nil { freed = true }
            if freed {
                state.wake.room = true
                return state.waiter.take()
            }
            return nil
        }?.resume()
        return deleted
    }

    /// The session is over: what it held and did not acknowledge goes back to the inbox, and
    /// the account's other sessions are told. Safe to call more than once.
    public func end() async {
        let (held, waiter) = state.withLock { state in
            let held = !state.inFlight.isEmpty
            state.ended = true
            state.inFlight = []
            return (held, state.waiter.take())
        }
        waiter?.resume()
        do {
            try await queue.release(holder)
        } catch {
            // The leases run out on their own (`EnvelopeQueue.expireLeases`).
        }
        if held { await notifier.post(.envelopesWaiting, to: account) }
    }

    private func deliver(_ push: @Sendable (Push) async throws -> Void) async throws {
        var waiting = true
        var caughtUp = false
        while !Task.isCancelled {
            let room = window - inFlight
            if waiting, room > 0 {
                let leased = try await queue.lease(for: account, to: holder, limit: room, until: millisecondsFromNow(leaseSeconds))
                if leased.count < room { waiting = false }
                // The inbox held no more than this lease took: once these are pushed, the
                // session has been handed everything that waited for it.
                let tellCaughtUp = !caughtUp && leased.count < room
                if tellCaughtUp { caughtUp = true }
                guard !leased.isEmpty else {
                    if tellCaughtUp { try await push(.caughtUp) }
                    continue
                }
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
                if tellCaughtUp { try await push(.caughtUp) }
                continue
            }
            guard let wake = await nextWake() else { return }
            // Leases of a process that died run out unannounced: the timer's tick looks again.
            if wake.envelopes || wake.look { waiting = true }
            if let count = wake.prekeysLow { try await push(.prekeysLow(count)) }
        }
    }

    /// Notes a wake-up and resumes the delivery loop if it waits.
    private func wake(_ change: (inout Wake) -> Void) {
        state.withLock { state in
            change(&state.wake)
            return state.waiter.take()
        }?.resume()
    }

    /// Waits until something woke the loop, and takes every wake-up noted meanwhile; `nil` once
    /// the session ended. Returns (empty) when the task is cancelled.
    private func nextWake() async -> Wake? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state in
                    // Cancellation sets the flag before its handler runs, and the handler takes
                    // the lock: either it is seen here, or the handler finds the waiter.
                    guard state.wake.isEmpty, !state.ended, !Task.isCancelled else { return true }
                    state.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiter.take() }?.resume()
        }
        return state.withLock { state in
            guard !state.ended else { return nil }
            defer { state.wake = Wake() }
            return state.wake
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
