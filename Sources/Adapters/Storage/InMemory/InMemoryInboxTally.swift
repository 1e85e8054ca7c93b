import Application
import Domain

/// What waits in each inbox of `InMemoryEnvelopeQueue`, in all and per sender: followed
/// envelope by envelope as they are stored and deleted, so that a capped enqueue reads its
/// usage instead of counting the inbox. A value kept under the queue's lock.
struct InMemoryInboxTally {
    private struct Totals {
        var messages = 0
        var bytes = 0
    }

    private struct Inbox {
        var all = Totals()
        var senders: [AccountID: Totals] = [:]
    }

    private var inboxes: [AccountID: Inbox] = [:]

    /// What waits for `recipient`, in all and from `sender`.
    func usage(of recipient: AccountID, from sender: AccountID) -> InboxUsage {
        guard let inbox = inboxes[recipient] else { return InboxUsage(messages: 0, bytes: 0, senderMessages: 0, senderBytes: 0) }
        let own = inbox.senders[sender] ?? Totals()
        return InboxUsage(messages: inbox.all.messages, bytes: inbox.all.bytes, senderMessages: own.messages, senderBytes: own.bytes)
    }

    /// `envelope` was stored.
    mutating func add(_ envelope: QueuedEnvelope) {
        change(envelope, by: 1)
    }

    /// `envelope` was deleted (acknowledged or expired).
    mutating func remove(_ envelope: QueuedEnvelope) {
        change(envelope, by: -1)
    }

    private mutating func change(_ envelope: QueuedEnvelope, by sign: Int) {
        let bytes = sign * envelope.envelope.count
        var inbox = inboxes.removeValue(forKey: envelope.recipient) ?? Inbox()
        inbox.all.messages += sign
        inbox.all.bytes += bytes
        var own = inbox.senders.removeValue(forKey: envelope.sender) ?? Totals()
        own.messages += sign
        own.bytes += bytes
        if own.messages > 0 { inbox.senders[envelope.sender] = own }
        if inbox.all.messages > 0 { inboxes[envelope.recipient] = inbox }
    }
}
