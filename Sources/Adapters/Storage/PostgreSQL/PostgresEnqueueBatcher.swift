import Application
import Domain
import Synchronization

/// Gathers concurrent `enqueue`s into one multi-row INSERT, so that they share one commit.
///
/// A caller that finds fewer than `maxInFlight` batches being written starts a drain loop;
/// otherwise it queues up and goes with the next batch. There is no timer: an idle batcher
/// writes a lone message at once, and under load batches grow by themselves. Several
/// batches in flight keep PostgreSQL busy while one of them waits for its WAL flush (its
/// commits then share flushes too).
final class PostgresEnqueueBatcher: Sendable {
    private struct Item {
        let header: MessageHeader
        let content: [UInt8]
        let continuation: CheckedContinuation<MessageID, any Error>
    }

    private struct State {
        var pending: [Item] = []
        var drainers: [Int: Task<Void, Never>] = [:]
        var nextDrainer = 0
        var batchesWritten = 0
    }

    private let pool: PostgresConnectionPool
    private let limit: Int
    private let maxInFlight: Int
    private let state = Mutex(State())

    init(pool: PostgresConnectionPool, limit: Int, maxInFlight: Int = 3) {
        self.pool = pool
        self.limit = max(1, limit)
        self.maxInFlight = max(1, maxInFlight)
    }

    /// Stores one message with inline content, committed when it returns.
    func enqueue(_ header: MessageHeader, content: [UInt8]) async throws -> MessageID {
        try await withCheckedThrowingContinuation { continuation in
            state.withLock { state in
                state.pending.append(Item(header: header, content: content, continuation: continuation))
                if state.drainers.count < maxInFlight {
                    let key = state.nextDrainer
                    state.nextDrainer += 1
                    state.drainers[key] = Task { await self.drainLoop(key) }
                }
            }
        }
    }

    /// How many batches (transactions) have been written, for tests.
    var batchesWritten: Int { state.withLock { $0.batchesWritten } }

    /// Waits until everything queued so far is written.
    func drain() async {
        while let drainer = state.withLock({ $0.drainers.values.first }) {
            await drainer.value
        }
    }

    private func drainLoop(_ key: Int) async {
        while true {
            let batch: [Item] = state.withLock { state in
                guard !state.pending.isEmpty else {
                    state.drainers[key] = nil
                    return []
                }
                let count = min(limit, state.pending.count)
                state.batchesWritten += 1
                defer { state.pending.removeFirst(count) }
                return Array(state.pending.prefix(count))
            }
            guard !batch.isEmpty else { return }
            await write(batch)
        }
    }

    private func write(_ batch: [Item]) async {
        let recipients = batch.map(\.header.recipient.bytes)
        let senders = batch.map(\.header.sender.bytes)
        let kinds = batch.map { Int16($0.header.kind.rawValue) }
        let sizes = batch.map { Int64($0.header.contentSize) }
        let contents = batch.map(\.content)
        do {
            let rows = try await pool.withConnection { connection in
                // One statement is one transaction: one commit for the whole batch. Identity
                // values are drawn in ORDER BY order, so sorted ids match the batch order.
                try connection.execute(prepared: "sealpost_enqueue", """
                    INSERT INTO messages (recipient, sender, kind, content_size, content)
                    SELECT r, s, k, z, c
                    FROM unnest($1::bytea[], $2::bytea[], $3::int2[], $4::int8[], $5::bytea[])
                        WITH ORDINALITY AS v(r, s, k, z, c, n)
                    ORDER BY n
                    RETURNING id
                    """, [.bytesArray(recipients), .bytesArray(senders), .int16Array(kinds),
                          .int64Array(sizes), .bytesArray(contents)])
            }
            let ids = try (0..<rows.count).map { try rows.int($0, 0) }.sorted()
            guard ids.count == batch.count else {
                throw PostgresError(.protocolViolation, message: "inserted \(ids.count) messages for a batch of \(batch.count)")
            }
            for (item, id) in zip(batch, ids) {
                item.continuation.resume(returning: MessageID(UInt64(bitPattern: id)))
            }
        } catch {
            let mapped = (error as? PostgresError)?.storeError ?? error
            for item in batch {
                item.continuation.resume(throwing: mapped)
            }
        }
    }
}
