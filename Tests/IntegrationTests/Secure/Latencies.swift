import Foundation

/// Percentiles of a set of durations.
struct Latencies: CustomStringConvertible {
    let sorted: [Duration]

    init(_ samples: [Duration]) { sorted = samples.sorted() }

    func percentile(_ p: Double) -> Duration {
        guard !sorted.isEmpty else { return .zero }
        let rank = Int((Double(sorted.count) * p).rounded(.up))
        return sorted[Swift.max(0, Swift.min(sorted.count - 1, rank - 1))]
    }

    var p50: Duration { percentile(0.5) }
    var p99: Duration { percentile(0.99) }
    var max: Duration { sorted.last ?? .zero }

    var description: String { "p50 \(Self.ms(p50)), p99 \(Self.ms(p99)), max \(Self.ms(max)) over \(sorted.count)" }

    static func ms(_ duration: Duration) -> String {
        let value = Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
        return String(format: "%.2f ms", value)
    }
}
