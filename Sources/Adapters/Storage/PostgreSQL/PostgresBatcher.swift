import Synchronization

/// Gathers concurrent calls into batches that one statement serves: one round trip and one
/// commit for all of them, each caller handed its own result.
///
/// The pattern of `PostgresEnqueueBatcher`, for any statement: a caller that finds fewer
/// than `maxInFlight` batches being written starts a drain loop; otherwise it queues up and
/// goes with the next batch. There is no timer: an idle batcher writes a lone item at once,
/// and under load batches grow by themselves. A caller returns only once its batch's
/// statement returned (committed).
final class PostgresBatcher<Item: Sendable, Result: Sendable>: Sendable {
    /// Writes one batch; returns one result per item, in the items' order.
    typealias Write = @Sendable ([Item]) async throws -> [Result]

    private struct Waiting {
        let item: Item
        let continuation: CheckedContinuation<Result, any Error>
    }

    private struct State {
        var pending: [Waiting] = []
        var drainers = 0
        var batchesWritten = 0
    }

    private let limit: Int
    private let maxInFlight: Int
    private let write: Write
    private let state = Mutex(State())

    init(limit: Int, maxInFlight: Int = 3, write: @escaping Write) {
        self.limit = max(1, limit)
        self.maxInFlight = max(1, maxInFlight)
        self.write = write
    }

    /// How many batches have been written, for tests.
    var batchesWritten: Int { state.withLock { $0.batchesWritten } }

    /// Queues `item` and returns its result once its batch was written.
    func submit(_ item: Item) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            let start = state.withLock { state in
                state.pending.append(Waiting(item: item, continuation: continuation))
                guard state.drainers < maxInFlight else { return false }
                state.drainers += 1
                return true
            }
            if start { Task { await self.drain() } }
        }
    }

    private func drain() async {
        while true {
            let batch: [Waiting] = state.withLock { state in
                guard !state.pending.isEmpty else {
                    state.drainers -= 1
                    return []
                }
                let count = min(limit, state.pending.count)
                state.batchesWritten += 1
                defer { state.pending.removeFirst(count) }
                return Array(state.pending.prefix(count))
            }
            guard !batch.isEmpty else { return }
            do {
                let results = try await write(batch.map(\.item))
                guard results.count == batch.count else {
                    throw PostgresError(.protocolViolation, message: "\(results.count) results for a batch of \(batch.count)")
                }
                for (waiting, result) in zip(batch, results) { waiting.continuation.resume(returning: result) }
            } catch {
                for waiting in batch { waiting.continuation.resume(throwing: error) }
            }
        }
    }
}
