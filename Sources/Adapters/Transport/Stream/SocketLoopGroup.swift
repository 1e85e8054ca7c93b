import Foundation
import Glibc
import Synchronization

/// The loops of one server, one per core by default (like an event-loop group). The
/// server that made it shuts it down; a loop never outlives its group.
final class SocketLoopGroup: Sendable {
    let loops: [SocketLoop]
    private let stopped = Atomic<Bool>(false)

    /// `count` loops whose threads are named `name-0`, `name-1`, ...
    init(count: Int, name: String) {
        loops = (0..<max(1, count)).map { SocketLoop(name: "\(name)-\($0)") }
    }

    /// One per core, or `SEALPOST_IO_THREADS` (1...256) when set.
    static var defaultThreadCount: Int {
        let cores = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        return ProcessInfo.processInfo.environment["SEALPOST_IO_THREADS"].flatMap(Int.init).map { max(1, min($0, 256)) } ?? cores
    }

    var isShutDown: Bool { stopped.load(ordering: .acquiring) }

    /// Stops every loop and returns once each thread has ended (its epoll set and wake-up
    /// descriptor closed). Safe to call more than once.
    func shutdown() async {
        guard stopped.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        await withTaskGroup(of: Void.self) { group in
            for loop in loops {
                group.addTask {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                        loop.stop { continuation.resume() }
                    }
                }
            }
        }
    }
}

/// Nanoseconds of CLOCK_MONOTONIC.
func monotonicNanoseconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}
