import Application
import CLinuxNet
import Dispatch
import Foundation
import Synchronization

/// Group commit: concurrent callers share one transaction, hence one fsync.
///
/// One thread of its own does every commit, one after another. A caller queues its item
/// and waits; the thread takes everything queued (up to `maxBatch`), commits it in one
/// transaction, resumes the callers, and takes what queued up meanwhile. There is no
/// timer: a lone item is committed at once, and under load batches grow by themselves.
/// The thread blocks in SQLite and in fsync, never a Swift task or an event loop, and a
/// commit costs one wake-up of this thread and one of each caller.
///
/// The message store also runs its claims on one (`SQLiteMessageStore.claim`): a batch is
/// then the claims queued meanwhile, read in one snapshot.
final class SQLiteCommitBatcher<Item: Sendable, Output: Sendable>: Sendable {
    /// Commits a batch in one transaction, returning one output per item, in order. Blocks.
    typealias Commit = @Sendable ([Item]) throws -> [Output]

    private struct Waiter {
        let item: Item
        let continuation: UnsafeContinuation<Output, any Error>
    }

    private struct State {
        var waiting: [Waiter] = []
        var transactions = 0
        var stopped = false
        var exited = false
        var exitWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)
    private let maxBatch: Int
    private let commit: Commit

    /// - Parameters:
    ///   - maxBatch: The most items one transaction takes.
    ///   - commit: Writes a batch in one transaction.
    init(maxBatch: Int, name: String = "sealpost-commit", commit: @escaping Commit) {
        self.maxBatch = max(1, maxBatch)
        self.commit = commit
        let thread = Thread { [self] in
            // Named for `top -H` and perf (Linux takes at most 15 bytes).
            _ = String(name.utf8.prefix(15))!.withCString { sealpost_set_thread_name(pthread_self(), $0) }
            run()
        }
        thread.start()
    }

    /// How many transactions the batcher has run, for tests.
    var transactions: Int { state.withLock { $0.transactions } }

    /// Commits `item`, together with whatever else is waiting, and returns its output.
    ///
    /// - Throws: what the commit threw, or `StoreError.unavailable` once stopped.
    func submit(_ item: Item) async throws -> Output {
        try await withUnsafeThrowingContinuation { continuation in
            let (accepted, first) = state.withLock { state -> (Bool, Bool) in
                guard !state.stopped else { return (false, false) }
                state.waiting.append(Waiter(item: item, continuation: continuation))
                return (true, state.waiting.count == 1)
            }
            guard accepted else {
                continuation.resume(throwing: StoreError.unavailable("the database is closed"))
                return
            }
            // The thread empties the queue before it sleeps: only the first item wakes it.
            if first { wake.signal() }
        }
    }

    /// Commits what is queued, ends the thread and returns once it has ended. Later
    /// submissions fail.
    func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let exited = state.withLock { state -> Bool in
                state.stopped = true
                if !state.exited { state.exitWaiters.append(continuation) }
                return state.exited
            }
            if exited { continuation.resume() }
            wake.signal()
        }
    }

    private func exit() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.exited = true
            defer { state.exitWaiters.removeAll() }
            return state.exitWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    private func run() {
        while true {
            wake.wait()
            while true {
                let (batch, stopped) = state.withLock { state -> ([Waiter], Bool) in
                    let count = min(maxBatch, state.waiting.count)
                    guard count > 0 else { return ([], state.stopped) }
                    state.transactions += 1
                    defer { state.waiting.removeFirst(count) }
                    return (Array(state.waiting.prefix(count)), state.stopped)
                }
                if batch.isEmpty {
                    if stopped {
                        exit()
                        return
                    }
                    break
                }
                let result = Result { try commit(batch.map(\.item)) }
                switch result {
                case .success(let outputs) where outputs.count == batch.count:
                    for (waiter, output) in zip(batch, outputs) { waiter.continuation.resume(returning: output) }
                case .success(let outputs):
                    let error = StoreError.unavailable("a batch of \(batch.count) writes returned \(outputs.count) results")
                    for waiter in batch { waiter.continuation.resume(throwing: error) }
                case .failure(let error):
                    for waiter in batch { waiter.continuation.resume(throwing: error) }
                }
            }
        }
    }
}
