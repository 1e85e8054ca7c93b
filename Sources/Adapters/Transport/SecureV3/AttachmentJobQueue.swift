import Synchronization

/// The attachment requests of one session waiting for its worker: the event loop pushes
/// them one by one, the worker takes every one waiting at once, so that it can store
/// consecutive writes in one append.
final class AttachmentJobQueue: Sendable {
    typealias Job = SecureSessionChannelHandler.AttachmentJob

    private struct State {
        var jobs: [Job] = []
        var waiter: CheckedContinuation<[Job]?, Never>?
        var finished = false
    }
    private let state = Mutex(State())

    init() {}

    /// Queues `job`, or hands it to the worker waiting for one; dropped once finished.
    func push(_ job: Job) {
        let waiter: CheckedContinuation<[Job]?, Never>? = state.withLock { state in
            guard !state.finished else { return nil }
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.jobs.append(job)
            return nil
        }
        waiter?.resume(returning: [job])
    }

    /// Ends the queue: the jobs still waiting are dropped and `next` returns `nil`.
    func finish() {
        let waiter = state.withLock { state in
            state.finished = true
            state.jobs = []
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// Every job waiting, in order, at least one (waiting for it when there is none); `nil`
    /// once finished. One caller at a time.
    func next() async -> [Job]? {
        if let ready = state.withLock({ Self.take(&$0) }) { return ready }
        return await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> [Job]?? in
                if let ready = Self.take(&state) { return ready }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// `nil` when the caller must wait; `.some(nil)` once finished.
    private static func take(_ state: inout State) -> [Job]?? {
        if state.finished { return .some(nil) }
        guard !state.jobs.isEmpty else { return nil }
        defer { state.jobs = [] }
        return .some(state.jobs)
    }
}
