import Application
import Domain

extension PostgresEnvelopeQueue {
    /// One envelope to store within its recipient's cap.
    struct CappedInsert: Sendable {
        let insert: Insert
        let cap: InboxCap
    }

    /// Stores those of `batch` that fit their inboxes, in one transaction. Blocking.
    ///
    /// It takes an advisory lock per recipient (in the order of the locks' keys, the same in
    /// every process, so two batches never wait for each other in a cycle), then counts those
    /// inboxes in a snapshot taken after the locks, so what other processes committed under
    /// them is seen; then admits the envelopes in the batch's order, each counted against
    /// what waits and what the batch admitted before it, and inserts the admitted in one
    /// statement. The locks are held until the commit, so no two batches, in any processes,
    /// count one inbox at once.
    static func insertCapped(_ batch: [CappedInsert], on connection: PostgresConnection) throws -> [InboxAdmission] {
        var recipients: [[UInt8]] = []
        var seen = Set<[UInt8]>()
        for item in batch where seen.insert(item.insert.recipient).inserted { recipients.append(item.insert.recipient) }
        return try connection.transaction {
            _ = try connection.execute(prepared: "v3_inbox_lock_batch", """
                SELECT pg_advisory_xact_lock(k) FROM (
                    SELECT DISTINCT hashtextextended('sealpost.inbox.' || encode(r, 'hex'), 0) AS k
                    FROM unnest($1::bytea[]) AS v(r) ORDER BY k) AS keys
                """, [.bytesArray(recipients)])
            var usage = try usage(of: recipients, on: connection)
            var admissions: [InboxAdmission?] = []
            var admitted: [Insert] = []
            admissions.reserveCapacity(batch.count)
            for item in batch {
                let insert = item.insert
                let key = UsageKey(recipient: insert.recipient, sender: insert.sender)
                let inbox = usage.inboxes[insert.recipient] ?? Totals()
                let own = usage.senders[key] ?? Totals()
                let waiting = InboxUsage(messages: inbox.messages, bytes: inbox.bytes, senderMessages: own.messages, senderBytes: own.bytes)
                if let refusal = item.cap.refusal(adding: insert.envelope.count, waiting: waiting) {
                    admissions.append(refusal)
                    continue
                }
                usage.inboxes[insert.recipient] = Totals(messages: inbox.messages + 1, bytes: inbox.bytes + insert.envelope.count)
                usage.senders[key] = Totals(messages: own.messages + 1, bytes: own.bytes + insert.envelope.count)
                admissions.append(nil)
                admitted.append(insert)
            }
            var ids = try insertRows(admitted, on: connection).makeIterator()
            return try admissions.map { admission in
                if let admission { return admission }
                guard let id = ids.next() else {
                    throw PostgresError(.protocolViolation, message: "an admitted envelope got no id")
                }
                return .stored(MessageID(UInt64(bitPattern: id)))
            }
        }
    }

    private struct UsageKey: Hashable {
        let recipient: [UInt8]
        let sender: [UInt8]
    }

    private struct Totals {
        var messages = 0
        var bytes = 0
    }

    private struct Usage {
        var inboxes: [[UInt8]: Totals] = [:]
        var senders: [UsageKey: Totals] = [:]
    }

    /// What waits in each of `recipients`' inboxes, in all and per sender, leased or not.
    private static func usage(of recipients: [[UInt8]], on connection: PostgresConnection) throws -> Usage {
        // octet_length of a bytea kept out of line reads its size from the TOAST pointer, not
        // the value.
        let rows = try connection.execute(prepared: "v3_inbox_usage_batch", """
            SELECT recipient, sender, count(*)::bigint, coalesce(sum(octet_length(envelope)), 0)::bigint
            FROM envelopes WHERE recipient = ANY($1::bytea[])
            GROUP BY recipient, sender
            """, [.bytesArray(recipients)])
        var usage = Usage()
        for row in 0..<rows.count {
            let recipient = try rows.bytes(row, 0)
            let totals = Totals(messages: Int(try rows.int(row, 2)), bytes: Int(try rows.int(row, 3)))
            usage.senders[UsageKey(recipient: recipient, sender: try rows.bytes(row, 1))] = totals
            var inbox = usage.inboxes[recipient] ?? Totals()
            inbox.messages += totals.messages
            inbox.bytes += totals.bytes
            usage.inboxes[recipient] = inbox
        }
        return usage
    }
}
