import Foundation

/// The seed system's recorded bytes, copied into `Tests/Fixtures/vectors`.
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/vectors")

    struct Exchange: Decodable {
        let seq: Int
        let request_hex: String
        let response_hex: String
        var request: [UInt8] { Hex.decode(request_hex) }
        var response: [UInt8] { Hex.decode(response_hex) }
    }

    /// The 22 connections of the original client's session with the original server.
    static func seedSession() throws -> [Exchange] {
        let text = try String(contentsOf: directory.appendingPathComponent("seed_session.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(Exchange.self, from: Data($0.utf8)) }
    }
}
