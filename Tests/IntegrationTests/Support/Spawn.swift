import Foundation

/// Starts child processes one at a time. swift-corelibs-foundation's `Process.run()` is not
/// safe to call from several threads at once on Linux: a full-suite run crashed inside it
/// (a `memcpy` from a freed buffer) while other tests started processes in parallel. The
/// lock covers only the spawn; the children then run concurrently.
enum Spawn {
    private static let lock = NSLock()

    static func run(_ process: Process) throws {
        lock.lock()
        defer { lock.unlock() }
        try process.run()
    }
}
