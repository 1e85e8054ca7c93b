import Foundation
import Synchronization

/// One direction of `sealpost exchange-bench`: when each text went into `send`, when its
/// `send` returned, and when the receiving side reached the point where `listen` prints it.
/// Texts carry their sequence number first (`#N `), so that a display finds its send.
final class ExchangeBenchRecorder: Sendable {
    struct State {
        var sendStart: [UInt64]
        var sendEnd: [UInt64]
        var displayed: [UInt64]
        var shown = 0
        var duplicates = 0
        var foreign = 0
    }

    let count: Int
    private let state: Mutex<State>

    init(count: Int) {
        self.count = count
        state = Mutex(State(sendStart: Array(repeating: 0, count: count), sendEnd: Array(repeating: 0, count: count),
                            displayed: Array(repeating: 0, count: count)))
    }

    /// Monotonic microseconds.
    static func micros() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
    }

    /// The text of message `sequence`, `bytes` long (at least its number).
    static func text(_ sequence: Int, bytes: Int) -> String {
        let head = "#\(sequence) "
        return head + String(repeating: "m", count: max(bytes - head.utf8.count, 0))
    }

    func sending(_ sequence: Int) { state.withLock { $0.sendStart[sequence] = Self.micros() } }
    func sent(_ sequence: Int) { state.withLock { $0.sendEnd[sequence] = Self.micros() } }

    /// A text reached the display point; one not from this run, or seen twice, is counted apart.
    func displayed(_ text: String) {
        let now = Self.micros()
        let number = text.dropFirst().prefix { $0 != " " }
        state.withLock { state in
            guard text.hasPrefix("#"), let sequence = Int(number), (0..<count).contains(sequence) else {
                state.foreign += 1
                return
            }
            if state.displayed[sequence] != 0 {
                state.duplicates += 1
                return
            }
            state.displayed[sequence] = now
            state.shown += 1
        }
    }

    var shown: Int { state.withLock { $0.shown } }

    /// The sequence numbers sent but never displayed (the first `limit`).
    func missing(limit: Int = 10) -> [Int] {
        state.withLock { state in Array((0..<count).filter { state.sendEnd[$0] != 0 && state.displayed[$0] == 0 }.prefix(limit)) }
    }

    /// The figures: latencies in ms, rate over first send to last display.
    struct Figures {
        var shown: Int
        var duplicates: Int
        var foreign: Int
        var seconds: Double
        var messagesPerSecond: Double
        var displayP50: Double
        var displayP99: Double
        var displayMax: Double
        var sendP50: Double
        var sendP99: Double
    }

    func figures() -> Figures {
        state.withLock { state in
            var display: [Double] = []
            var send: [Double] = []
            for index in 0..<count where state.displayed[index] != 0 && state.sendStart[index] != 0 {
                display.append(Double(state.displayed[index] - min(state.sendStart[index], state.displayed[index])) / 1000)
            }
            for index in 0..<count where state.sendEnd[index] != 0 {
                send.append(Double(state.sendEnd[index] - state.sendStart[index]) / 1000)
            }
            display.sort()
            send.sort()
            let first = state.sendStart.filter { $0 != 0 }.min() ?? 0
            let last = state.displayed.max() ?? 0
            let seconds = last > first ? Double(last - first) / 1e6 : 0
            return Figures(shown: state.shown, duplicates: state.duplicates, foreign: state.foreign, seconds: seconds,
                           messagesPerSecond: seconds > 0 ? Double(state.shown) / seconds : 0,
                           displayP50: Self.percentile(display, 0.50), displayP99: Self.percentile(display, 0.99),
                           displayMax: display.last ?? 0, sendP50: Self.percentile(send, 0.50), sendP99: Self.percentile(send, 0.99))
        }
    }

    static func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, Int((Double(sorted.count) * fraction).rounded(.up)) - 1)]
    }
}
