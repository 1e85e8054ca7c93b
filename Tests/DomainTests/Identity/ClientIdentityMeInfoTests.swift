import Domain
import Foundation
import Testing

@Suite("Identity: the original client's me.info")
struct ClientIdentityMeInfoTests {
    static let vectors = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent() // Identity
        .deletingLastPathComponent() // DomainTests
        .deletingLastPathComponent() // Tests
        .appendingPathComponent("Fixtures/vectors", isDirectory: true)

    static func fixture(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: vectors.appendingPathComponent(name)))
    }

    @Test("me.info.example parses and is written back byte for byte",
          arguments: ["me.info.example", "seed_session_client2.me.info"])
    func roundTrip(_ file: String) throws {
        let original = try Self.fixture(file)
        let identity = try ClientIdentity(meInfo: original)
        #expect(identity.meInfo == original)
        #expect(identity.privateKey.der.count < ClientIdentity.keyBufferSize)
        #expect(try ClientIdentity(meInfoText: identity.meInfoText) == identity)
    }

    @Test("the fields of me.info.example")
    func fields() throws {
        let identity = try ClientIdentity(meInfo: Self.fixture("me.info.example"))
        #expect(identity.name.value == "alice")
        #expect(identity.id == ClientID(hex: "9FA1100381B8B96684E603CE24C74CD9"))
        // 30 82 02 75: a SEQUENCE of 0x275 bytes after its 4-byte header.
        #expect(identity.privateKey.der.count == 0x275 + 4)
        #expect(Array(identity.privateKey.der.prefix(4)) == [0x30, 0x82, 0x02, 0x75])
        #expect(!identity.privateKey.description.contains("30 82"))
    }

    @Test("CRLF line ends, trailing blanks, a missing final LF and blank trailing lines are tolerated")
    func tolerant() throws {
        let original = try Self.fixture("me.info.example")
        let identity = try ClientIdentity(meInfo: original)
        let text = String(decoding: original, as: UTF8.self)
        let lines = text.split(separator: "\n").map(String.init)
        let variants = [
            lines.joined(separator: "\r\n") + "\r\n",
            lines.joined(separator: "\n"),
            lines.map { $0 + " \t" }.joined(separator: "\n") + "\n\n\r\n",
            text.lowercasedIDLine(),
        ]
        for variant in variants {
            #expect(try ClientIdentity(meInfoText: variant) == identity)
        }
    }

    @Test("malformed files fail with errors that name the problem")
    func malformed() throws {
        let text = String(decoding: try Self.fixture("me.info.example"), as: UTF8.self)
        let lines = text.split(separator: "\n").map(String.init)
        func file(_ replacing: Int, with line: String) -> String {
            var copy = lines
            copy[replacing] = line
            return copy.joined(separator: "\n") + "\n"
        }
        let keyLine = lines[2]
        let cases: [(String, IdentityFileError)] = [
            ("", .wrongLineCount(0)),
            ("alice\n", .wrongLineCount(1)),
            (text + "extra\n", .wrongLineCount(4)),
            (file(0, with: "a"), .invalidName("invalid name: a name needs at least 2 characters")),
            (file(1, with: "9FA1100381B8B96684E603CE24C74CD"), .invalidClientID("expected 32 hexadecimal digits, got 31 characters")),
            (file(1, with: "XFA1100381B8B96684E603CE24C74CD9"), .invalidClientID("expected 32 hexadecimal digits, got 32 characters")),
            (file(2, with: String(keyLine.dropLast())), .invalidBase64("1335 characters is not a multiple of 4")),
            (file(2, with: "*" + keyLine.dropFirst()), .invalidBase64("unexpected character at position 1")),
            (file(2, with: "AAAA" + keyLine.dropFirst(4)), .malformedKey("the key does not start with a DER SEQUENCE (first byte 0x00)")),
            (file(2, with: String(keyLine.dropLast(4)) + "AQ=="), .malformedKey("non-zero bytes follow the key's DER in the key buffer")),
            (file(2, with: "MIIP" + keyLine.dropFirst(4)), .malformedKey("the key's DER header declares 3961 bytes but only 1000 are present")),
        ]
        for (input, expected) in cases {
            #expect(throws: expected) { try ClientIdentity(meInfoText: input) }
        }
        let error = #expect(throws: IdentityFileError.self) { try ClientIdentity(meInfoText: "garbage") }
        #expect(error?.description == "an identity file has 3 lines (name, client id, private key), this one has 1")
        #expect(throws: IdentityFileError.self) { try ClientIdentity(meInfo: [0xff, 0xfe, 0x0a, 0x00, 0x0a, 0x00]) }
    }

    @Test("a private key must be exactly one DER SEQUENCE and fit the 1000-byte buffer")
    func privateKeyFraming() throws {
        #expect(throws: IdentityFileError.self) { try PrivateKey(der: []) }
        #expect(throws: IdentityFileError.self) { try PrivateKey(der: [0x30, 0x01, 0x00, 0x00]) }
        #expect(throws: IdentityFileError.self) { try PrivateKey(der: [0x30, 0x81, 0x01, 0x00]) }
        let big = try PrivateKey(der: [0x30, 0x82, 0x03, 0xe8] + [UInt8](repeating: 0, count: 1000))
        #expect(throws: IdentityFileError.keyTooLarge(1004)) {
            try ClientIdentity(name: ClientName("alice"), id: .zero, privateKey: big)
        }
    }
}

private extension String {
    /// The same file with its id line in lower case.
    func lowercasedIDLine() -> String {
        var lines = split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines[1] = lines[1].lowercased()
        return lines.joined(separator: "\n")
    }
}
