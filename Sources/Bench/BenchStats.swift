#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization

/// Monotonic time in microseconds, cheap enough to read around every request.
func benchMicros() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
}

/// Latencies of one operation, in microseconds, and the wall time they were measured over.
struct BenchLatencies {
    var micros: [UInt32]
    var errors: Int
    var seconds: Double

    /// The loadgen's rule: the value at index round((n - 1) * p) of the sorted samples.
    func percentileMillis(_ p: Double, sorted: [UInt32]) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let index = Int((Double(sorted.count - 1) * p).rounded())
        return Double(sorted[index]) / 1000
    }

    /// "name: N ok, E errors in Ts = R req/s; latency ms p50 .. p99 .. max .."
    func line(_ name: String) -> String {
        let sorted = micros.sorted()
        let rate = seconds > 0 ? Double(sorted.count) / seconds : 0
        return "\(name): \(sorted.count) ok, \(errors) errors in \(benchFormat(seconds, 2))s = \(benchFormat(rate, 0)) req/s; "
            + "latency ms p50 \(benchFormat(percentileMillis(0.5, sorted: sorted), 2)) "
            + "p99 \(benchFormat(percentileMillis(0.99, sorted: sorted), 2)) "
            + "max \(benchFormat(percentileMillis(1, sorted: sorted), 2))"
    }

    var rate: Double { seconds > 0 ? Double(micros.count) / seconds : 0 }
    var p99Millis: Double { percentileMillis(0.99, sorted: micros.sorted()) }
}

func benchFormat(_ value: Double, _ decimals: Int) -> String {
    String(format: "%.\(decimals)f", value)
}

/// The peak resident set size of `pid` (VmHWM in /proc/PID/status), in KiB.
func benchPeakRSSKiB(pid: Int32) -> UInt64? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let digits = line.dropFirst("VmHWM:".count).filter(\.isNumber)
        return UInt64(digits)
    }
    return nil
}

/// Runs `body(index)` on `count` OS threads at once and returns their results in index
/// order. Blocking socket calls are the point: each worker owns one thread, as the loadgen's do.
func benchRunThreads<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) -> T) -> [T] {
    let results = Mutex<[Int: T]>([:])
    let done = DispatchSemaphore(value: 0)
    for index in 0..<count {
        let thread = Thread {
            let value = body(index)
            results.withLock { $0[index] = value }
            done.signal()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
    for _ in 0..<count { done.wait() }
    return results.withLock { all in (0..<count).map { all[$0]! } }
}

/// The loadgen's xorshift generator, so that both tools draw the same kind of workload.
struct BenchRandom {
    var state: UInt64

    mutating func next() -> UInt64 {
        var x = state
        x ^= x << 13
        x ^= x >> 7
        x ^= x << 17
        state = x
        return x
    }
}

/// FNV-1a over bytes, as the loadgen checks message bodies.
func benchFNV<Bytes: Sequence>(_ bytes: Bytes) -> UInt64 where Bytes.Element == UInt8 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes {
        hash ^= UInt64(byte)
        hash = hash &* 0x100_0000_01b3
    }
    return hash
}

/// Monotonic time in nanoseconds: the push workload stamps it into each payload, and the
/// recipient, in the same process, subtracts it from its own reading.
func benchNanos() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// The CPU time `pid` has used, user and system, in microseconds (utime and stime, fields
/// 14 and 15 of /proc/PID/stat, counted after the parenthesised command name).
func benchCPUMicros(pid: Int32) -> UInt64? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = text.lastIndex(of: ")")
    else { return nil }
    let fields = text[text.index(after: close)...].split(separator: " ")
    // fields[0] is the state (field 3), so utime (field 14) is fields[11].
    guard fields.count > 12, let user = UInt64(fields[11]), let system = UInt64(fields[12]) else { return nil }
    let ticks = UInt64(max(sysconf(Int32(_SC_CLK_TCK)), 1))
    return (user + system) * 1_000_000 / ticks
}

/// Sorted samples' percentile by the loadgen's rule, in milliseconds from microseconds.
func benchPercentileMillis(_ sorted: [UInt32], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    return Double(sorted[Int((Double(sorted.count - 1) * p).rounded())]) / 1000
}
