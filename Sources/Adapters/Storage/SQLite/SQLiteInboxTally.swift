import Application
import Foundation
import GRDB
import Synchronization

/// What waits in each inbox, in all and per sender, kept beside the `envelopes` table so that
/// a capped enqueue need not count an inbox of thousands on every SEND. Exact because the
/// store is one process's and every write goes through its one commit thread: an inbox is
/// counted from the table the first time it is capped, then followed insert by insert and
/// delete by delete. A failed commit forgets everything (`reset`): the next use counts again.
final class SQLiteInboxTally: Sendable {
    private struct Inbox {
        var messages = 0
        var bytes = 0
        var senders: [Data: (messages: Int, bytes: Int)] = [:]
    }

    private let inboxes = Mutex<[Data: Inbox]>([:])

    /// What waits for `recipient`, and from `sender`; counted from `db` the first time.
    func usage(of recipient: Data, from sender: Data, in db: Database) throws -> InboxUsage {
        if let known = inboxes.withLock({ $0[recipient] }) { return Self.usage(known, sender) }
        var inbox = Inbox()
        let rows = try Row.fetchCursor(db.cachedStatement(
            sql: "SELECT sender, count(*), coalesce(sum(length(envelope)), 0) FROM envelopes WHERE recipient = ? GROUP BY sender"),
            arguments: [recipient])
        while let row = try rows.next() {
            let (messages, bytes): (Int, Int) = (row[1], row[2])
            inbox.senders[row[0]] = (messages, bytes)
            inbox.messages += messages
            inbox.bytes += bytes
        }
        inboxes.withLock { $0[recipient] = inbox }
        return Self.usage(inbox, sender)
    }

    /// What waits for `recipient` in all, when the tally follows that inbox; `nil` when not.
    func known(_ recipient: Data) -> (messages: Int, bytes: Int)? {
        inboxes.withLock { $0[recipient].map { ($0.messages, $0.bytes) } }
    }

    /// An envelope of `bytes` from `sender` was stored for `recipient` (`sign` 1) or deleted
    /// (`sign` -1). Inboxes not followed yet are left to be counted when first needed.
    func record(_ recipient: Data, from sender: Data, bytes: Int, sign: Int) {
        inboxes.withLock { inboxes in
            // Taken out, not copied: its senders' dictionary is then edited in place.
            guard var inbox = inboxes.removeValue(forKey: recipient) else { return }
            inbox.messages += sign
            inbox.bytes += sign * bytes
            let old = inbox.senders[sender] ?? (0, 0)
            let new = (messages: old.messages + sign, bytes: old.bytes + sign * bytes)
            inbox.senders[sender] = new.messages > 0 ? new : nil
            inboxes[recipient] = inbox
        }
    }

    /// Forgets every inbox: after a failed commit, or a bulk delete.
    func reset() {
        inboxes.withLock { $0.removeAll() }
    }

    private static func usage(_ inbox: Inbox, _ sender: Data) -> InboxUsage {
        let own = inbox.senders[sender] ?? (0, 0)
        return InboxUsage(messages: inbox.messages, bytes: inbox.bytes, senderMessages: own.messages, senderBytes: own.bytes)
    }
}
