#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Wall time and the calling thread's CPU time (user and system) since it was started. On a
/// shared machine the CPU time is the steadier figure: `openssl speed` divides by its user
/// time too, unless given `-elapsed`.
struct BenchStopwatch {
    private let wallStart: UInt64
    private let cpuStart: UInt64

    init() {
        wallStart = benchMicros()
        cpuStart = Self.threadCPUMicros()
    }

    /// Seconds of wall time since the start.
    var wall: Double { Double(benchMicros() - wallStart) / 1e6 }
    /// Seconds of this thread's CPU time since the start.
    var cpu: Double { Double(Self.threadCPUMicros() - cpuStart) / 1e6 }

    static func threadCPUMicros() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
    }
}

/// Work done in a measured span: how many, over what wall and CPU time.
struct BenchSpan {
    var count: Double
    var wall: Double
    var cpu: Double

    init(count: Double, _ watch: BenchStopwatch) {
        self.count = count
        // Read CPU first: the wall clock read after it costs nothing to the thread's time.
        self.cpu = watch.cpu
        self.wall = watch.wall
    }

    var perWallSecond: Double { wall > 0 ? count / wall : 0 }
    var perCPUSecond: Double { cpu > 0 ? count / cpu : 0 }

    /// "X/s (Y per CPU-second)" with `decimals` places and `unit` after each figure.
    func rates(_ unit: String = "/s", decimals: Int = 0) -> String {
        "\(benchFormat(perWallSecond, decimals))\(unit) wall, \(benchFormat(perCPUSecond, decimals))\(unit) per CPU-second"
    }
}
