import Synchronization

/// Group commit: concurrent callers share one transaction, hence one fsync.
///
/// There is no timer. A caller that finds the batcher idle becomes the leader and commits
/// at once, alone. Callers that arrive while a commit is in flight wait in a list; when
/// the commit ends, the leader resumes its own caller and hands leadership to the first
/// waiter, which commits everything that piled up in one transaction, and so on.
final class SQLiteCommitBatcher<Item: Sendable, Output: Sendable>: Sendable {
    /// Commits a batch in one transaction, returning one output per item, in order.
    typealias Commit = @Sendable ([Item]) async throws -> [Output]

    private enum Turn: Sendable {
        case done(Output)
        case lead
    }

    private struct Waiter: Sendable {
        let item: Item
        let continuation: CheckedContinuation<Turn, any Error>
    }

    private struct State {
        var waiting: [Waiter] = []
        var busy = false
        var transactions = 0
    }

    private let state = Mutex(State())
    private let maxBatch: Int
    private let commit: Commit

    /// - Parameters:
    ///   - maxBatch: The most items one transaction takes.
    ///   - commit: Writes a batch in one transaction.
    init(maxBatch: Int, commit: @escaping Commit) {
        self.maxBatch = max(1, maxBatch)
        self.commit = commit
    }

    /// How many transactions the batcher has run, for tests.
    var transactions: Int { state.withLock { $0.transactions } }

    /// Commits `item`, together with whatever else is waiting, and returns its output.
    func submit(_ item: Item) async throws -> Output {
        let turn = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Turn, any Error>) in
            let lead = state.withLock { state in
                if state.busy {
                    state.waiting.append(Waiter(item: item, continuation: continuation))
                    return false
                }
                state.busy = true
                return true
            }
            if lead { continuation.resume(returning: .lead) }
        }
        switch turn {
        case .done(let output):
            return output
        case .lead:
            return try await lead(with: item)
        }
    }

    /// Commits `own` and the waiters, resumes them, then passes leadership on.
    private func lead(with own: Item) async throws -> Output {
        let followers = state.withLock { state in
            let taken = Array(state.waiting.prefix(maxBatch - 1))
            state.waiting.removeFirst(taken.count)
            state.transactions += 1
            return taken
        }
        let result: Result<[Output], any Error>
        do {
            // An unstructured task, so that cancelling the leader's caller does not fail
            // the followers' writes along with it.
            let batch = [own] + followers.map(\.item)
            let commit = self.commit
            let outputs = try await Task { try await commit(batch) }.value
            precondition(outputs.count == followers.count + 1, "a batch commit must return one output per item")
            result = .success(outputs)
        } catch {
            result = .failure(error)
        }
        for (index, follower) in followers.enumerated() {
            switch result {
            case .success(let outputs): follower.continuation.resume(returning: .done(outputs[index + 1]))
            case .failure(let error): follower.continuation.resume(throwing: error)
            }
        }
        let next: Waiter? = state.withLock { state in
            guard !state.waiting.isEmpty else {
                state.busy = false
                return nil
            }
            return state.waiting.removeFirst()
        }
        next?.continuation.resume(returning: .lead)
        return try result.get()[0]
    }
}
