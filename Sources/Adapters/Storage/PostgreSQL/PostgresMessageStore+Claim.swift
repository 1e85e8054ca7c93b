import Application
import Domain

extension PostgresMessageStore {
    /// Candidates are read a page at a time.
    private static let claimPage = 256

    /// Runs a claim in one transaction on `connection`. Blocking.
    ///
    /// Locks candidate rows oldest first with `FOR UPDATE SKIP LOCKED` (rows another claim
    /// is taking are skipped, not waited for), keeps those `budget` admits, marks them
    /// with `token` and a lease, and commits; the others are unlocked untouched.
    static func claim(
        recipient: ClientID, budget: ClaimBudget, token: Int64, leaseSeconds: Double, on connection: PostgresConnection
    ) throws -> [Envelope] {
        try connection.execute("BEGIN")
        var budget = budget
        var chosen: [Int64] = []
        var after: Int64 = 0
        scan: while true {
            let page = try connection.execute("""
                SELECT id, content_size FROM messages
                WHERE recipient = $1 AND id > $2 AND (claim_token IS NULL OR claimed_until < now())
                ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED
                """, [.bytes(recipient.bytes), .int64(after), .int64(Int64(claimPage))])
            for row in 0..<page.count {
                guard let size = UInt32(exactly: try page.int(row, 1)) else {
                    throw PostgresError(.protocolViolation, message: "stored message \(try page.int(row, 0)) has a malformed size")
                }
                guard !budget.isExhausted, budget.admit(contentSize: size) else { break scan }
                chosen.append(try page.int(row, 0))
            }
            guard page.count == claimPage, let last = chosen.last else { break }
            after = last
        }
        guard !chosen.isEmpty else {
            try connection.execute("COMMIT")
            return []
        }
        let rows = try connection.execute("""
            UPDATE messages SET claim_token = $1, claimed_until = now() + make_interval(secs => $2)
            WHERE id = ANY($3)
            RETURNING id, sender, kind, content_size, CASE WHEN blob_id IS NULL THEN content END
            """, [.int64(token), .float64(leaseSeconds), .int64Array(chosen)])
        try connection.execute("COMMIT")
        var envelopes: [Envelope] = []
        for row in 0..<rows.count {
            guard let sender = ClientID(bytes: try rows.bytes(row, 1)),
                  let kind = MessageKind(rawValue: UInt8(truncatingIfNeeded: try rows.int(row, 2))) else {
                throw PostgresError(.protocolViolation, message: "stored message \(try rows.int(row, 0)) is malformed")
            }
            envelopes.append(Envelope(
                id: MessageID(UInt64(bitPattern: try rows.int(row, 0))), sender: sender, kind: kind,
                contentSize: UInt32(try rows.int(row, 3)), inlineContent: rows.raw(row, 4)))
        }
        // RETURNING does not promise an order; sort by the full id.
        return envelopes.sorted { $0.id < $1.id }
    }
}
