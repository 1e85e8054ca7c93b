import Foundation
import Synchronization

/// Names the blob files of uploads in progress, so that a `recover()` running beside them
/// does not take their files for orphans.
///
/// A name is live from the upload's start until its row is committed (or the upload is
/// given up). A sweep protects every name live when it starts, every name started while it
/// runs, and every name live when it ends.
final class SQLiteLiveBlobs: Sendable {
    private struct State {
        var live: Set<String> = []
        /// The names protected by the sweep in progress, if one is.
        var sweep: Set<String>?
    }

    private let state = Mutex(State())

    /// Draws a fresh file name and marks it live.
    func start() -> String {
        let name = UUID().uuidString.lowercased()
        state.withLock { state in
            state.live.insert(name)
            state.sweep?.insert(name)
        }
        return name
    }

    /// Marks `name` as no longer in progress: its row is committed or it was given up.
    func end(_ name: String) {
        _ = state.withLock { $0.live.remove(name) }
    }

    /// Starts a sweep; `false` when one is already running.
    func beginSweep() -> Bool {
        state.withLock { state in
            guard state.sweep == nil else { return false }
            state.sweep = state.live
            return true
        }
    }

    /// Ends the sweep and returns the names it must leave alone.
    func endSweep() -> Set<String> {
        state.withLock { state in
            let protected = (state.sweep ?? []).union(state.live)
            state.sweep = nil
            return protected
        }
    }
}
