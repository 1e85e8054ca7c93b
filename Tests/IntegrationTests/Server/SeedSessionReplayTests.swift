import Domain
import Testing

/// Replays the original client's recorded session against our server, over TCP, on
/// every store: each reply must equal the recorded one, except for the fresh random ids.
@Suite("Replay of the original session")
struct SeedSessionReplayTests {
    @Test("every recorded reply is reproduced", arguments: StoreKind.available)
    func replay(kind: StoreKind) async throws {
        let session = try Fixtures.seedSession()
        #expect(session.count == 22)
        try await TestServer.with(kind) { server in
            // Recorded id -> id our server handed out.
            var ids: [[UInt8]: [UInt8]] = [:]
            for exchange in session {
                let request = substitute(exchange.request, ids)
                // The original client writes the header in small pieces.
                let reply = try await RawClient.exchange(request, port: server.port, chunk: 7)
                var expected = exchange.response
                if exchange.request[17] == 100, expected.count == 23 {
                    // Register: learn the mapping from the recorded id to ours.
                    #expect(reply.count == 23, "seq \(exchange.seq)")
                    #expect(Array(reply.prefix(7)) == Array(expected.prefix(7)), "seq \(exchange.seq)")
                    ids[Array(expected[7..<23])] = Array(reply[7..<23])
                    expected = Array(expected.prefix(7)) + Array(reply[7..<23])
                }
                expected = substitute(expected, ids)
                #expect(Hex.encode(reply) == Hex.encode(expected), "seq \(exchange.seq)")
            }
        }
    }

    /// Replaces every recorded 16-byte id in `bytes` by ours.
    private func substitute(_ bytes: [UInt8], _ ids: [[UInt8]: [UInt8]]) -> [UInt8] {
        var out = bytes
        guard out.count >= 16 else { return out }
        var index = 0
        while index + 16 <= out.count {
            if let ours = ids[Array(out[index..<index + 16])] {
                out.replaceSubrange(index..<index + 16, with: ours)
                index += 16
            } else {
                index += 1
            }
        }
        return out
    }
}
