@testable import Bench
import Testing

/// The push benchmark's protocol v3 driver against the v3 server over real TLS and every
/// store: sessions register with real signatures, pipeline SENDs, and every accepted
/// envelope is pushed once, intact, to its recipient, who acknowledges it. (Correctness only:
/// the figures are the benchmark's business, not a test's.)
@Suite("Bench: the push workload on protocol v3", .serialized)
struct PushBenchV3Tests {
    @Test("every accepted envelope is pushed once, intact, to the account it was sent to", arguments: StoreKind.available)
    func deliversEveryAcceptedEnvelopeOnce(_ kind: StoreKind) async throws {
        try await SecureAccountsTests.withServer(kind) { server, _ in
            let run = PushBenchRun(
                target: .sealpost(host: "127.0.0.1", port: server.port, fingerprint: server.fingerprint),
                sessions: 4, window: 4, seconds: 0.3, payload: 100, ackBatch: 3, ackDelayMicros: 500, threads: 1)
            let report = try await offPool { try run.measure(progress: { _ in }) }
            #expect(report.sessions == 4)
            #expect(report.accepted > 0)
            #expect(report.accepted == report.sent && report.unanswered == 0 && report.refused == 0)
            #expect(report.uniqueDelivered == report.accepted)
            #expect(report.lost == 0 && report.duplicated == 0 && report.corrupted == 0 && report.errors == 0)
            #expect(report.ok)
        }
    }

    @Test("a server whose key is not the pinned one is refused before any session is set up")
    func refusesAnotherKey() async throws {
        try await SecureAccountsTests.withServer(.memory) { server, _ in
            try await SecureAccountsTests.withServer(.memory) { other, _ in
                let run = PushBenchRun(
                    target: .sealpost(host: "127.0.0.1", port: server.port, fingerprint: other.fingerprint),
                    sessions: 2, window: 1, seconds: 0.1, payload: 16, threads: 1)
                await #expect(throws: (any Error).self) { try await offPool { try run.measure(progress: { _ in }) } }
            }
        }
    }
}
