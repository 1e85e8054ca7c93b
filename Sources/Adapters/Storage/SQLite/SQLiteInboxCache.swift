import Application
import Domain
import Foundation
import Synchronization

/// The waiting envelopes of small inboxes, mirrored in memory, so that a lease takes them
/// without the writer connection: the writer is then free for group commits, and a lease
/// costs no statement and no hop to GRDB's writer queue.
///
/// An inbox is followed from the moment a lease read all of it on the writer connection
/// (`follow`), then envelope by envelope as the commit thread stores and deletes them
/// (`stored`, `deleted`, applied after each commit and before its callers resume, so a SEND
/// that returned is seen by the next lease). It stops being followed when it outgrows its
/// share of the memory; its leases then read the table again. Exact because the store is one
/// process's and every write goes through its one commit thread: a lease that reads an inbox
/// between a commit and that commit's update already sees the commit's rows, and the update
/// then adds only rows newer than those it read (`lastID`) and deletes what is gone already.
final class SQLiteInboxCache: Sendable {
    /// One waiting envelope.
    struct Row: Sendable {
        let id: Int64
        let sender: AccountID
        let storedAt: UInt64
        let envelope: [UInt8]
    }

    private struct Inbox {
        var rows: [Row] = []
        var bytes = 0
        /// The newest row id this inbox has seen: a row stored before it was read is not
        /// added twice.
        var lastID: Int64 = 0
    }

    private struct State {
        var inboxes: [Data: Inbox] = [:]
        var bytes = 0
        /// While positive, nothing is served or followed (a bulk delete is under way).
        var suspended = 0
    }

    private let state = Mutex(State())
    /// The most envelope bytes held in all.
    let maxBytes: Int
    /// The most envelopes, and envelope bytes, one followed inbox holds.
    let maxInboxRows: Int
    let maxInboxBytes: Int

    init(maxBytes: Int = 64 << 20, maxInboxRows: Int = 512, maxInboxBytes: Int = 1 << 20) {
        self.maxBytes = maxBytes
        self.maxInboxRows = maxInboxRows
        self.maxInboxBytes = maxInboxBytes
    }

    /// Leases the oldest envelopes of `recipient` that no one holds, as
    /// `EnvelopeQueue.lease` does; `nil` when the inbox is not followed (read the table).
    func lease(_ recipient: Data, account: AccountID, book: SQLiteLeaseBook, holder: LeaseHolder, limit: Int,
               until: UInt64) -> [QueuedEnvelope]? {
        state.withLock { state -> [QueuedEnvelope]? in
            guard state.suspended == 0, let inbox = state.inboxes[recipient] else { return nil }
            // Under this lock: the rows stay as they are until they are taken.
            let taken = book.take(unleased: inbox.rows.lazy.map(\.id), limit: limit, for: holder, until: until)
            guard !taken.isEmpty else { return [] }
            var envelopes: [QueuedEnvelope] = []
            envelopes.reserveCapacity(taken.count)
            var next = taken.makeIterator()
            var wanted = next.next()
            for row in inbox.rows where row.id == wanted {
                envelopes.append(QueuedEnvelope(id: MessageID(UInt64(row.id)), recipient: account, sender: row.sender,
                                                storedAt: row.storedAt, envelope: row.envelope))
                wanted = next.next()
                if wanted == nil { break }
            }
            return envelopes
        }
    }

    /// Whether a lease reading `recipient`'s inbox should read all of it, to follow it.
    func wantsToFollow(_ recipient: Data) -> Bool {
        state.withLock { $0.suspended == 0 && $0.inboxes[recipient] == nil && $0.bytes < maxBytes }
    }

    /// A lease on the writer connection read all of `recipient`'s inbox: `rows`, in id order.
    /// Follows it from now on, if it fits.
    func follow(_ recipient: Data, rows: [Row]) {
        let bytes = rows.reduce(0) { $0 + $1.envelope.count }
        guard rows.count <= maxInboxRows, bytes <= maxInboxBytes else { return }
        state.withLock { state in
            guard state.suspended == 0, state.inboxes[recipient] == nil, state.bytes + bytes <= maxBytes else { return }
            state.inboxes[recipient] = Inbox(rows: rows, bytes: bytes, lastID: rows.last?.id ?? 0)
            state.bytes += bytes
        }
    }

    /// A commit stored `row` for `recipient`.
    func stored(_ row: Row, for recipient: Data) {
        state.withLock { state in
            guard var inbox = state.inboxes.removeValue(forKey: recipient) else { return }
            state.bytes -= inbox.bytes
            if row.id > inbox.lastID {
                inbox.rows.append(row)
                inbox.bytes += row.envelope.count
                inbox.lastID = row.id
            }
            // Outgrown: forgotten, read from the table until it is small again.
            guard inbox.rows.count <= maxInboxRows, inbox.bytes <= maxInboxBytes, state.bytes + inbox.bytes <= maxBytes else { return }
            state.bytes += inbox.bytes
            state.inboxes[recipient] = inbox
        }
    }

    /// A commit deleted the rows `ids` of `recipient`.
    func deleted(_ ids: [Int64], for recipient: Data) {
        guard !ids.isEmpty else { return }
        state.withLock { state in
            guard var inbox = state.inboxes.removeValue(forKey: recipient) else { return }
            let gone = Set(ids)
            var freed = 0
            inbox.rows.removeAll { row in
                guard gone.contains(row.id) else { return false }
                freed += row.envelope.count
                return true
            }
            inbox.bytes -= freed
            state.bytes -= freed
            state.inboxes[recipient] = inbox
        }
    }

    /// Stops serving and following until `resume`: a bulk delete is about to commit.
    func suspend() {
        state.withLock { $0.suspended += 1 }
    }

    /// Ends a `suspend`; with `forgetting`, forgets every inbox first (they are read again).
    func resume(forgetting: Bool) {
        state.withLock { state in
            if forgetting {
                state.inboxes.removeAll()
                state.bytes = 0
            }
            state.suspended -= 1
        }
    }
}
