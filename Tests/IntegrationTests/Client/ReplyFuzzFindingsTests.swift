import Adapters
import Application
import Domain
import Foundation
import Testing

/// Findings of the reply fuzzer (`scripts/fuzz replies`, Fuzz/README.md), each with the
/// reply that triggered it, inline.
@Suite("Client: reply fuzzer findings")
struct ReplyFuzzFindingsTests {
    /// Finding 1 (out-of-memory, `malloc(1073741824)`): a 1000 reply whose head claims a
    /// 1 GiB payload (within the default 1 GiB + 64 limit) and then sends 16 bytes. The
    /// reader reserved the claimed size before any of it arrived, so 23 bytes from a server
    /// cost the client 1 GiB.
    static let claims1GiB: [UInt8] = [
        0x02, 0xE8, 0x03, 0x00, 0x00, 0x00, 0x40,
        0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F,
    ]

    @Test("a reply claiming 1 GiB is a truncation error, not a 1 GiB allocation")
    func claimedSizeIsNotReserved() async throws {
        try await CannedServer.with([Self.claims1GiB]) { server in
            let connection = TCPSeedServerConnection(host: "127.0.0.1", port: server.port)
            do {
                _ = try await connection.register(name: try ClientName("alice"), publicKey: try PublicKey(bytes: Array(repeating: 7, count: 160)))
                Issue.record("expected an error")
            } catch let error as ClientError {
                guard case .malformedReply(let request, let reason) = error else {
                    Issue.record("unexpected \(error)")
                    return
                }
                #expect(request == "register")
                #expect(reason.contains("truncated"))
            }

            // The allocation itself: under a 1 GiB address-space limit the 1 GiB reservation
            // cannot succeed, so the client died on it; now it reports the truncated reply.
            let root = try TestStores.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: root) }
            let result = try await SealpostBinary.run(
                ["register", "alice", "--home", root.appendingPathComponent("home").path, "--server", "127.0.0.1:\(server.port)"],
                directory: root, environment: ["MALLOC_ARENA_MAX": "2"], addressSpaceKiB: 1 << 20)
            #expect(result.status == 1, "stderr: \(result.stderr)")
            #expect(result.stderr.hasPrefix("sealpost: malformed reply to the register request: truncated"))
        }
    }
}
