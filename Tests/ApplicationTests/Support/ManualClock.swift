import Application
import Synchronization

/// A wall clock that stands still until a test moves it.
final class ManualClock: WallClock {
    private let current: Mutex<Double>

    init(_ start: Double = 1_700_000_000) {
        current = Mutex(start)
    }

    func now() -> Double { current.withLock { $0 } }

    /// Moves the clock forward by `seconds`.
    func advance(by seconds: Double) {
        current.withLock { $0 += seconds }
    }
}
