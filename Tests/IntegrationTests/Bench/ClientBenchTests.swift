@testable import Bench
import Foundation
import Testing

/// The v3 client's benchmarks do what they claim: the crypto one seals, opens and streams
/// through the client's use cases and gets the content back; the exchange one takes two
/// users through the CLI's own code over real TLS and displays every text once, keeping each
/// in both histories. (Correctness only: the figures are the benchmark's business.)
@Suite("Bench: the v3 client", .serialized, .timeLimit(.minutes(3)))
struct ClientBenchTests {
    @Test("client crypto: every envelope, handshake and attachment stream opens to what was sealed")
    func clientCrypto() async throws {
        let bench = ClientCryptoBench(seconds: 0.02, attachmentMib: 2)
        #expect(try await offPool { try bench.run() })
    }

    @Test("exchange-bench: two CLI users on a SQLite server, each text displayed once and kept in both histories")
    func exchange() async throws {
        try await SecureAccountsTests.withServer(.sqlite) { server, _ in
            let root = try TestStores.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: root) }
            let result = try await SealpostBinary.run(
                ["exchange-bench", "--server", "127.0.0.1:\(server.port)", "--server-fingerprint", server.fingerprint.hex,
                 "--messages", "25", "--text-bytes", "100", "--work", root.appendingPathComponent("homes").path, "--drain-seconds", "20"],
                directory: root)
            #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
            #expect(result.lines.filter { $0.contains("25/25 displayed (duplicates 0, foreign 0)") }.count == 2)
            #expect(result.lines.filter { $0.contains("50 entries (expected 50)") }.count == 2)
            let summary = try #require(result.lines.last { $0.hasPrefix("summary:") })
            #expect(summary.hasSuffix("ok true"))
        }
    }
}
