import CLinuxNet
import Foundation
import Glibc
import Synchronization

/// Something registered with a loop's epoll set. Called on the loop's thread only.
protocol SocketLoopHandler: AnyObject {
    /// The descriptor became ready for `events` (epoll flags).
    func ready(_ events: UInt32)
    /// Called about every `SocketLoop.sweepInterval` to enforce timeouts.
    func sweep(now: UInt64)
}

/// One thread that waits on an epoll set, serves the sockets registered with it, and runs
/// the Swift tasks that prefer it.
///
/// The server's tasks are started with this loop as their task executor, so a request is
/// read, decoded, handed to its use case and answered on one thread: no hop to another
/// thread unless the store itself works elsewhere (a database's own threads), and then one
/// hop back. Blocking calls never run here; the stores run them on their own threads.
final class SocketLoop: TaskExecutor, @unchecked Sendable {
    /// How often timeouts are checked (a few thousand comparisons at most).
    static let sweepInterval: UInt64 = 50_000_000

    private enum Work {
        case job(UnownedJob)
        case closure(@Sendable () -> Void)
        case stop(@Sendable () -> Void)
    }

    private struct Pending {
        var queue: [Work] = []
        var stopped = false
    }

    private let epoll: Int32
    private let wakeFD: Int32
    private let pending = Mutex(Pending())
    /// The loop's thread, set once it runs; compared with `pthread_self()`.
    private let threadID = Atomic<UInt>(0)

    /// One registration of a descriptor: its handler, and a number no other registration
    /// of this loop shares (until 2³² registrations later), kept with the descriptor in the
    /// epoll data. An event whose number is not the descriptor's current one belongs to a
    /// registration that ended (the descriptor was closed, and its number reused, while the
    /// event waited in the same batch) and is dropped.
    private struct Registration {
        let id: UInt32
        let handler: any SocketLoopHandler
    }

    /// Loop-confined: what each registered descriptor is.
    private var handlers: [Int32: Registration] = [:]
    /// Loop-confined: the last registration number given (0 is the wake-up descriptor's).
    private var lastRegistration: UInt32 = 0
    /// Events dropped because their registration had ended (for tests and diagnostics).
    private(set) var staleEventsDropped = 0
    private var nextSweep: UInt64 = 0
    /// Loop-confined: the emptied queue of the last turn, swapped in under the lock so that
    /// neither side allocates a new array per turn.
    private var spare: [Work] = []

    init(name: String) {
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        precondition(epoll >= 0 && wakeFD >= 0, "epoll/eventfd: \(String(cString: strerror(errno)))")
        var event = epoll_event()
        event.events = sealpost_epoll_in()
        event.data.u64 = Self.data(fd: wakeFD, registration: 0)
        precondition(epoll_ctl(epoll, EPOLL_CTL_ADD, wakeFD, &event) == 0, "epoll_ctl(wake): \(String(cString: strerror(errno)))")
        let box = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let created = pthread_create(&thread, nil, { argument in
            let loop = Unmanaged<SocketLoop>.fromOpaque(argument!).takeRetainedValue()
            loop.run()
            return nil
        }, box)
        precondition(created == 0, "pthread_create failed: \(created)")
        pthread_detach(thread)
        _ = String(name.utf8.prefix(15))!.withCString { sealpost_set_thread_name(thread, $0) }
        // Wait until the thread is known, so `inLoop` is right from the first call.
        while threadID.load(ordering: .acquiring) == 0 { sched_yield() }
    }

    /// Whether the caller runs on this loop's thread.
    var inLoop: Bool { threadID.load(ordering: .relaxed) == UInt(pthread_self()) }

    // MARK: Work from anywhere

    func enqueue(_ job: consuming ExecutorJob) {
        push(.job(UnownedJob(job)))
    }

    /// Queues `work` to run on the loop, after what is queued already; never runs it
    /// before returning, even when called on the loop, so a handler that asks for work
    /// is never re-entered by it. Work queued once the loop stopped is dropped.
    func execute(_ work: @escaping @Sendable () -> Void) {
        push(.closure(work))
    }

    /// Stops the loop after its current turn: its thread ends, its descriptors are closed,
    /// and `done` is called on that thread. Jobs enqueued later run on the global executor.
    func stop(then done: @escaping @Sendable () -> Void) {
        push(.stop(done))
    }

    private func push(_ work: Work) {
        let onLoop = inLoop
        let queued = pending.withLock { state -> Bool in
            guard !state.stopped else { return false }
            let wasEmpty = state.queue.isEmpty
            state.queue.append(work)
            // The loop empties the queue every turn; only the first item after that needs
            // to wake it, and only if it may be asleep (another thread is asking). Written
            // under the lock: once `stopped` is set the loop closes this descriptor.
            if wasEmpty && !onLoop {
                var one: UInt64 = 1
                // Can fail only with EAGAIN, when the counter is about to overflow: then it
                // is non-zero, and the loop is woken anyway.
                _ = Glibc.write(wakeFD, &one, 8)
            }
            return true
        }
        if !queued, case .job(let job) = work {
            // The loop has stopped: a task that still prefers it runs elsewhere.
            globalConcurrentExecutor.enqueue(job)
        }
    }

    // MARK: Loop-confined

    /// The epoll data of a registration: the number in the high half, the descriptor in the low.
    static func data(fd: Int32, registration: UInt32) -> UInt64 {
        UInt64(registration) << 32 | UInt64(UInt32(bitPattern: fd))
    }

    /// Serves `fd` by `handler` under a new registration, and adds it to the epoll set
    /// waiting for `events`. False (errno set) when epoll refused it.
    func register(_ fd: Int32, events: UInt32, handler: any SocketLoopHandler) -> Bool {
        precondition(inLoop, "SocketLoop.register called off its loop")
        lastRegistration = lastRegistration == UInt32.max ? 1 : lastRegistration + 1
        let registration = Registration(id: lastRegistration, handler: handler)
        guard control(EPOLL_CTL_ADD, fd, events: events, registration: registration.id) else { return false }
        handlers[fd] = registration
        return true
    }

    /// Adds `fd` to the epoll set again under its current registration (its handler stays).
    /// False (errno set) when epoll refused it or `fd` is not registered.
    func watch(_ fd: Int32, events: UInt32) -> Bool {
        precondition(inLoop, "SocketLoop.watch called off its loop")
        guard let registration = handlers[fd] else { errno = EBADF; return false }
        return control(EPOLL_CTL_ADD, fd, events: events, registration: registration.id)
    }

    /// Changes what `fd` waits for. False (errno set) when epoll refused it.
    func modify(_ fd: Int32, events: UInt32) -> Bool {
        precondition(inLoop, "SocketLoop.modify called off its loop")
        guard let registration = handlers[fd] else { errno = EBADF; return false }
        return control(EPOLL_CTL_MOD, fd, events: events, registration: registration.id)
    }

    /// Removes `fd` from the epoll set; its handler is still swept. False (errno set) when
    /// epoll refused it.
    @discardableResult
    func unwatch(_ fd: Int32) -> Bool {
        precondition(inLoop, "SocketLoop.unwatch called off its loop")
        var event = epoll_event()
        return epoll_ctl(epoll, EPOLL_CTL_DEL, fd, &event) == 0
    }

    /// Stops serving `fd`. A descriptor about to be closed leaves the epoll set by itself.
    func forget(_ fd: Int32, removeFromEpoll: Bool) {
        precondition(inLoop, "SocketLoop.forget called off its loop")
        guard handlers.removeValue(forKey: fd) != nil, removeFromEpoll else { return }
        unwatch(fd)
    }

    private func control(_ operation: Int32, _ fd: Int32, events: UInt32, registration: UInt32) -> Bool {
        var event = epoll_event()
        event.events = events
        event.data.u64 = Self.data(fd: fd, registration: registration)
        return epoll_ctl(epoll, operation, fd, &event) == 0
    }

    private func run() {
        threadID.store(UInt(pthread_self()), ordering: .releasing)
        let capacity = 128
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: capacity)
        nextSweep = monotonicNanoseconds() + Self.sweepInterval
        defer {
            events.deallocate()
            Glibc.close(epoll)
            Glibc.close(wakeFD)
        }
        while true {
            let hasWork = pending.withLock { !$0.queue.isEmpty }
            let now = monotonicNanoseconds()
            let timeout: Int32 = hasWork ? 0 : Int32(clamping: (nextSweep &- min(now, nextSweep)) / 1_000_000 + 1)
            let count = epoll_wait(epoll, events, Int32(capacity), timeout)
            if count > 0 {
                for index in 0..<Int(count) {
                    let data = events[index].data.u64
                    let fd = Int32(bitPattern: UInt32(truncatingIfNeeded: data))
                    let registration = UInt32(truncatingIfNeeded: data >> 32)
                    if registration == 0 && fd == wakeFD {
                        var value: UInt64 = 0
                        // EAGAIN (already reset) is the only failure, and harmless.
                        _ = Glibc.read(wakeFD, &value, 8)
                        continue
                    }
                    guard let current = handlers[fd], current.id == registration else {
                        staleEventsDropped += 1
                        continue
                    }
                    current.handler.ready(events[index].events)
                }
            }
            if let done = runPending() {
                done()
                return
            }
            let after = monotonicNanoseconds()
            if after >= nextSweep {
                nextSweep = after + Self.sweepInterval
                for registration in Array(handlers.values) { registration.handler.sweep(now: after) }
            }
        }
    }

    /// Runs the queued work; returns the completion of a stop when one was queued (the
    /// loop then ends after this turn).
    private func runPending() -> (@Sendable () -> Void)? {
        // Work queued while this batch runs waits for the next turn, so sockets are
        // polled between batches however busy the tasks are.
        var batch: [Work] = []
        swap(&batch, &spare)
        pending.withLock { swap(&$0.queue, &batch) }
        let executor = asUnownedTaskExecutor()
        var stopped: (@Sendable () -> Void)?
        for work in batch {
            switch work {
            case .job(let job): job.runSynchronously(on: executor)
            case .closure(let closure): closure()
            case .stop(let done): stopped = done
            }
        }
        batch.removeAll(keepingCapacity: true)
        spare = batch
        guard let stopped else { return nil }
        // Nothing is queued from now on; what came in during this batch still runs.
        let rest = pending.withLock { state -> [Work] in
            state.stopped = true
            defer { state.queue.removeAll() }
            return state.queue
        }
        for work in rest {
            switch work {
            case .job(let job): job.runSynchronously(on: executor)
            case .closure(let closure): closure()
            case .stop: break
            }
        }
        return stopped
    }
}
