import Application
import Domain
import Synchronization

/// The v3 envelope queue held in process memory: for tests and for throwaway servers.
///
/// Nothing survives a restart. A class behind one lock: every operation is a few in-memory
/// steps, so callers never suspend for it.
public final class InMemoryEnvelopeQueue: EnvelopeQueue {
    private struct Lease {
        let holder: LeaseHolder
        let until: UInt64
    }

    private struct Waiting {
        let envelope: QueuedEnvelope
        var lease: Lease?
    }

    private struct State {
        var nextID: UInt64 = 1
        /// Waiting envelopes by recipient, in id order.
        var inboxes: [AccountID: [Waiting]] = [:]
        /// The recipients whose inboxes each holder has leases in (a session leases for one
        /// account, so usually one), so that renewing and releasing look at those only.
        var holders: [LeaseHolder: Set<AccountID>] = [:]
        /// What each inbox holds, in all and per sender, kept beside it so that a SEND's cap
        /// check costs the same however full the inbox is.
        var tallies: [AccountID: Tally] = [:]

        /// Counts `envelope` in (`sign` 1) or out (-1) of its recipient's tally.
        mutating func record(_ envelope: QueuedEnvelope, sign: Int) {
            let bytes = envelope.envelope.count * sign
            var tally = tallies.removeValue(forKey: envelope.recipient) ?? Tally()
            tally.messages += sign
            tally.bytes += bytes
            let sender = tally.senders[envelope.sender, default: (0, 0)]
            let left = (messages: sender.messages + sign, bytes: sender.bytes + bytes)
            tally.senders[envelope.sender] = left.messages > 0 ? left : nil
            if tally.messages > 0 { tallies[envelope.recipient] = tally }
        }
    }

    private struct Tally {
        var messages = 0
        var bytes = 0
        var senders: [AccountID: (messages: Int, bytes: Int)] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    public func enqueue(to recipient: AccountID, from sender: AccountID, envelope: [UInt8], storedAt: UInt64) -> MessageID {
        state.withLock { state in
            let id = MessageID(state.nextID)
            state.nextID += 1
            let queued = QueuedEnvelope(id: id, recipient: recipient, sender: sender, storedAt: storedAt, envelope: envelope)
            state.inboxes[recipient, default: []].append(Waiting(envelope: queued, lease: nil))
            state.record(queued, sign: 1)
            return id
        }
    }

    public func enqueue(to recipient: AccountID, from sender: AccountID, envelope: [UInt8], storedAt: UInt64,
                        within cap: InboxCap) -> InboxAdmission {
        state.withLock { state in
            let tally = state.tallies[recipient] ?? Tally()
            let fromSender = tally.senders[sender] ?? (0, 0)
            let usage = InboxUsage(messages: tally.messages, bytes: tally.bytes,
                                   senderMessages: fromSender.messages, senderBytes: fromSender.bytes)
            if let refusal = cap.refusal(adding: envelope.count, waiting: usage) { return refusal }
            let id = MessageID(state.nextID)
            state.nextID += 1
            let queued = QueuedEnvelope(id: id, recipient: recipient, sender: sender, storedAt: storedAt, envelope: envelope)
            state.inboxes[recipient, default: []].append(Waiting(envelope: queued, lease: nil))
            state.record(queued, sign: 1)
            return .stored(id)
        }
    }

    public func expire(storedBefore cutoff: UInt64) -> Int {
        state.withLock { state in
            var deleted = 0
            for recipient in Array(state.inboxes.keys) {
                guard var inbox = state.inboxes[recipient] else { continue }
                state.inboxes[recipient] = nil
                let before = inbox.count
                for waiting in inbox where waiting.envelope.storedAt < cutoff { state.record(waiting.envelope, sign: -1) }
                inbox.removeAll { $0.envelope.storedAt < cutoff }
                deleted += before - inbox.count
                if !inbox.isEmpty { state.inboxes[recipient] = inbox }
            }
            return deleted
        }
    }

    public func lease(for recipient: AccountID, to holder: LeaseHolder, limit: Int, until: UInt64) -> [QueuedEnvelope] {
        guard limit > 0 else { return [] }
        return state.withLock { state in
            guard var inbox = state.inboxes[recipient] else { return [] }
            state.inboxes[recipient] = nil  // edited in place below, not copied
            var leased: [QueuedEnvelope] = []
            for index in inbox.indices where inbox[index].lease == nil {
                inbox[index].lease = Lease(holder: holder, until: until)
                leased.append(inbox[index].envelope)
                if leased.count == limit { break }
            }
            state.inboxes[recipient] = inbox
            if !leased.isEmpty { state.holders[holder, default: []].insert(recipient) }
            return leased
        }
    }

    public func acknowledge(_ ids: [MessageID], for recipient: AccountID) -> Int {
        let ids = Set(ids)
        guard !ids.isEmpty else { return 0 }
        return state.withLock { state in
            guard var inbox = state.inboxes[recipient] else { return 0 }
            state.inboxes[recipient] = nil
            let before = inbox.count
            for waiting in inbox where ids.contains(waiting.envelope.id) { state.record(waiting.envelope, sign: -1) }
            inbox.removeAll { ids.contains($0.envelope.id) }
            if !inbox.isEmpty { state.inboxes[recipient] = inbox }
            return before - inbox.count
        }
    }

    public func renew(_ holder: LeaseHolder, until: UInt64) {
        state.withLock { state in
            Self.edit(holder, in: &state) { Lease(holder: $0.holder, until: until) }
        }
    }

    public func release(_ holder: LeaseHolder) {
        state.withLock { state in
            Self.edit(holder, in: &state) { _ in nil }
            state.holders[holder] = nil
        }
    }

    public func expireLeases(now: UInt64) -> Int {
        state.withLock { state in
            var expired = 0
            for holder in Array(state.holders.keys) {
                Self.edit(holder, in: &state) { lease in
                    guard lease.until < now else { return lease }
                    expired += 1
                    return nil
                }
            }
            return expired
        }
    }

    public func waitingCount(for recipient: AccountID) -> Int {
        state.withLock { $0.inboxes[recipient]?.count ?? 0 }
    }

    /// Rewrites every lease of `holder` with `change` (`nil` ends it), and forgets the holder
    /// in inboxes where it holds nothing any more.
    private static func edit(_ holder: LeaseHolder, in state: inout State, _ change: (Lease) -> Lease?) {
        guard let recipients = state.holders[holder] else { return }
        var stillHeld = Set<AccountID>()
        for recipient in recipients {
            guard var inbox = state.inboxes[recipient] else { continue }
            state.inboxes[recipient] = nil
            for index in inbox.indices {
                guard let lease = inbox[index].lease, lease.holder == holder else { continue }
                inbox[index].lease = change(lease)
                if inbox[index].lease != nil { stillHeld.insert(recipient) }
            }
            state.inboxes[recipient] = inbox
        }
        state.holders[holder] = stillHeld.isEmpty ? nil : stillHeld
    }
}
