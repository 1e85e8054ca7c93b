/// The figures of one push benchmark run, from every session's outcome and the server's
/// process counters, with the check that every accepted message arrived exactly once.
struct PushBenchReport: Sendable {
    var sessions: Int
    var seconds: Double
    var sent = 0
    var accepted = 0
    var refused = 0
    var unanswered = 0
    var acceptedInWindow = 0
    var deliveredInWindow = 0
    /// Deliveries, duplicates included.
    var delivered = 0
    /// Messages delivered at least once: what the server's CPU time is divided by.
    var uniqueDelivered = 0
    var lost = 0
    var duplicated = 0
    var corrupted = 0
    /// Messages refused or unanswered that arrived anyway (allowed: the answer was lost).
    var unacceptedDelivered = 0
    var errors = 0
    var firstErrors: [String] = []
    /// The first few corrupted deliveries, described.
    var firstCorruptions: [String] = []
    var acceptMicros: [UInt32] = []
    var pushMicros: [UInt32] = []
    var serverCPUMicros: UInt64?
    var serverPeakRSSKiB: UInt64?
    /// The bench's own CPU time over the same span: the client's share of the machine.
    var clientCPUMicros: UInt64?
    /// v3: ACK requests sent and the ids they carried.
    var ackRequests = 0
    var ackedIDs = 0

    init(outcomes: [PushBenchSession.Outcome], seconds: Double, serverCPUMicros: UInt64?, serverPeakRSSKiB: UInt64?,
         clientCPUMicros: UInt64? = nil, ackRequests: Int = 0, ackedIDs: Int = 0) {
        self.sessions = outcomes.count
        self.seconds = seconds
        self.serverCPUMicros = serverCPUMicros
        self.serverPeakRSSKiB = serverPeakRSSKiB
        self.clientCPUMicros = clientCPUMicros
        self.ackRequests = ackRequests
        self.ackedIDs = ackedIDs
        var seen = outcomes.map { [UInt8](repeating: 0, count: $0.recipients.count) }
        for outcome in outcomes {
            sent += outcome.recipients.count
            for state in outcome.states {
                switch state {
                case .accepted: accepted += 1
                case .refused: refused += 1
                case .pending: unanswered += 1
                }
            }
            acceptedInWindow += outcome.acceptedInWindow
            deliveredInWindow += outcome.deliveredInWindow
            corrupted += outcome.corrupted
            for corruption in outcome.corruptions where firstCorruptions.count < 5 {
                firstCorruptions.append("session \(outcome.index): \(corruption)")
            }
            errors += outcome.errors
            if let error = outcome.firstError, firstErrors.count < 3 { firstErrors.append("session \(outcome.index): \(error)") }
            acceptMicros += outcome.acceptMicros
            pushMicros += outcome.pushMicros
            for key in outcome.received {
                delivered += 1
                let sender = Int(key >> 32), sequence = Int(key & 0xFFFF_FFFF)
                guard sender < outcomes.count, sequence < outcomes[sender].recipients.count,
                      outcomes[sender].recipients[sequence] == Int32(outcome.index)
                else {
                    corrupted += 1
                    if firstCorruptions.count < 5 {
                        firstCorruptions.append("session \(outcome.index): sender \(sender) sequence \(sequence) is not a message sent to it")
                    }
                    continue
                }
                if seen[sender][sequence] > 0 {
                    duplicated += 1
                } else {
                    uniqueDelivered += 1
                    if outcomes[sender].states[sequence] != .accepted { unacceptedDelivered += 1 }
                }
                seen[sender][sequence] &+= 1
            }
        }
        for (sender, outcome) in outcomes.enumerated() {
            for (sequence, state) in outcome.states.enumerated() where state == .accepted && seen[sender][sequence] == 0 {
                lost += 1
            }
        }
        acceptMicros.sort()
        pushMicros.sort()
    }

    var acceptedPerSecond: Double { Double(acceptedInWindow) / seconds }
    var deliveredPerSecond: Double { Double(deliveredInWindow) / seconds }
    var cpuMicrosPerMessage: Double? {
        guard let serverCPUMicros, uniqueDelivered > 0 else { return nil }
        return Double(serverCPUMicros) / Double(uniqueDelivered)
    }

    var ok: Bool { lost == 0 && duplicated == 0 && corrupted == 0 && errors == 0 && unanswered == 0 && accepted > 0 }

    /// The lines `sealpost bench --protocol` prints; the last one, `summary:`, is what
    /// scripts/bench reads.
    func lines(protocolName: String) -> [String] {
        let cpu = cpuMicrosPerMessage.map { benchFormat($0, 1) } ?? "?"
        let rss = serverPeakRSSKiB.map { benchFormat(Double($0) / 1024, 0) } ?? "?"
        let clientCPU = clientCPUMicros.flatMap { uniqueDelivered > 0 ? benchFormat(Double($0) / Double(uniqueDelivered), 1) : nil } ?? "?"
        var lines = [
            "send: \(sent) sent, \(accepted) accepted, \(refused) refused, \(unanswered) unanswered; in \(benchFormat(seconds, 2))s \(acceptedInWindow) accepted = \(benchFormat(acceptedPerSecond, 0)) accepted/s; "
                + "send→accept ms p50 \(benchFormat(benchPercentileMillis(acceptMicros, 0.5), 2)) p99 \(benchFormat(benchPercentileMillis(acceptMicros, 0.99), 2))",
            "push: \(delivered) delivered; in \(benchFormat(seconds, 2))s \(deliveredInWindow) delivered = \(benchFormat(deliveredPerSecond, 0)) delivered/s; "
                + "send→push ms p50 \(benchFormat(benchPercentileMillis(pushMicros, 0.5), 2)) p99 \(benchFormat(benchPercentileMillis(pushMicros, 0.99), 2)) max \(benchFormat(benchPercentileMillis(pushMicros, 1), 2))",
            "server: cpu \(serverCPUMicros.map(String.init) ?? "?") µs over \(uniqueDelivered) messages = \(cpu) µs/message; peak rss \(rss) MiB",
            "client: cpu \(clientCPUMicros.map(String.init) ?? "?") µs = \(clientCPU) µs/message (this bench, both directions)"
                + (ackRequests > 0 ? "; \(ackRequests) ACKs carried \(ackedIDs) ids = \(benchFormat(Double(ackedIDs) / Double(ackRequests), 1)) per ACK" : ""),
            "verify: accepted \(accepted) delivered \(delivered) lost \(lost) duplicated \(duplicated) corrupted \(corrupted) unaccepted_delivered \(unacceptedDelivered) errors \(errors)",
        ]
        lines += firstErrors.map { "  error: \($0)" }
        lines += firstCorruptions.map { "  corrupted: \($0)" }
        lines.append(
            "summary: protocol \(protocolName) sessions \(sessions) accepted_per_s \(benchFormat(acceptedPerSecond, 0)) delivered_per_s \(benchFormat(deliveredPerSecond, 0)) "
                + "push_p50_ms \(benchFormat(benchPercentileMillis(pushMicros, 0.5), 2)) push_p99_ms \(benchFormat(benchPercentileMillis(pushMicros, 0.99), 2)) "
                + "accept_p99_ms \(benchFormat(benchPercentileMillis(acceptMicros, 0.99), 2)) cpu_us_per_msg \(cpu) rss_mib \(rss) client_cpu_us_per_msg \(clientCPU) "
                + "lost \(lost) duplicated \(duplicated) corrupted \(corrupted) errors \(errors) ok \(ok)")
        return lines
    }
}
