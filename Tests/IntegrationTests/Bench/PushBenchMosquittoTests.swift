@testable import Bench
import Testing

/// The push benchmark's MQTT side against a real Mosquitto over TLS: persistent sessions
/// connect and subscribe, publish at QoS 1 within the window, and every message the broker
/// acknowledged reaches its recipient exactly once, intact. (Correctness only: the figures
/// are the benchmark's business, not a test's.)
@Suite("Bench: the push workload on Mosquitto")
struct PushBenchMosquittoTests {
    @Test("every PUBACKed message is delivered once, intact, to the session it was sent to")
    func deliversEveryAcceptedMessageOnce() async throws {
        try await MosquittoBroker.with { broker in
            let run = PushBenchRun(
                target: .mqtt(host: "127.0.0.1", port: broker.port, caFile: broker.certificateFile),
                sessions: 5, window: 4, seconds: 0.3, payload: 64, serverPid: broker.pid, threads: 1)
            let report = try await offPool { try run.measure(progress: { _ in }) }
            #expect(report.sessions == 5)
            #expect(report.accepted > 0)
            #expect(report.accepted == report.sent && report.unanswered == 0 && report.refused == 0)
            #expect(report.uniqueDelivered == report.accepted)
            #expect(report.lost == 0 && report.duplicated == 0 && report.corrupted == 0 && report.errors == 0)
            #expect(report.pushMicros.count == report.delivered)
            #expect(report.serverCPUMicros != nil && report.serverPeakRSSKiB != nil)
            #expect(report.ok)
        }
    }

    @Test("a broker whose certificate is not the trusted one is refused before any session is set up")
    func refusesAnUntrustedBroker() async throws {
        try await MosquittoBroker.with { broker in
            try await MosquittoBroker.with { other in
                // Trusting the other broker's certificate: this broker's does not chain to it.
                let run = PushBenchRun(
                    target: .mqtt(host: "127.0.0.1", port: broker.port, caFile: other.certificateFile),
                    sessions: 2, window: 1, seconds: 0.1, payload: 16, threads: 1)
                await #expect(throws: (any Error).self) { try await offPool { try run.measure(progress: { _ in }) } }
            }
        }
    }
}
