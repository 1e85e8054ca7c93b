import Foundation

/// Finds and reads the interoperability vectors in `Tests/Fixtures/vectors/`.
enum CryptoFixtures {
    /// `Tests/Fixtures/vectors/`, found from this file's location.
    static let directory: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent() // Crypto
        .deletingLastPathComponent() // IntegrationTests
        .deletingLastPathComponent() // Tests
        .appendingPathComponent("Fixtures/vectors", isDirectory: true)

    /// The raw bytes of a fixture file.
    static func bytes(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: directory.appendingPathComponent(name)))
    }

    /// Decodes a hex string; fails the test on bad input.
    static func hex(_ text: String) throws -> [UInt8] {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { throw FixtureError("odd-length hex string") }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let byte = UInt8(String(decoding: digits[index...index + 1], as: UTF8.self), radix: 16) else {
                throw FixtureError("bad hex at \(index)")
            }
            out.append(byte)
            index += 2
        }
        return out
    }
}

/// A fixture that is not what the test expects.
struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// `legacy_crypto.json`: its string fields, by name.
struct LegacyVectors: Sendable {
    let strings: [String: String]

    static func load() throws -> LegacyVectors {
        let data = Data(try CryptoFixtures.bytes("legacy_crypto.json"))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw FixtureError("legacy_crypto.json is not an object")
        }
        return LegacyVectors(strings: object.compactMapValues { $0 as? String })
    }

    /// A string field.
    func string(_ field: String) throws -> String {
        guard let value = strings[field] else { throw FixtureError("legacy_crypto.json has no field \(field)") }
        return value
    }

    /// A hex field as bytes.
    func bytes(_ field: String) throws -> [UInt8] {
        try CryptoFixtures.hex(string(field))
    }
}
