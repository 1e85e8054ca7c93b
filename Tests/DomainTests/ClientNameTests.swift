import Domain
import Testing

@Suite("ClientName")
struct ClientNameTests {
    @Test("reads the NUL-terminated, NUL-padded 255-byte field")
    func readsField() throws {
        var field = Array("client1".utf8)
        field += Array(repeating: 0, count: 255 - field.count)
        let name = try ClientName(field: field)
        #expect(name.value == "client1")
        #expect(name.field == field)
    }

    @Test("rejects what the original rejects, and what cannot round-trip")
    func rejects() {
        #expect(throws: DomainError.self) { try ClientName("a") }
        #expect(throws: DomainError.self) { try ClientName("") }
        #expect(throws: DomainError.self) { try ClientName(String(repeating: "x", count: 255)) }
        #expect(throws: DomainError.self) { try ClientName("tab\there") }
        // A field with no NUL at all.
        #expect(throws: DomainError.self) { try ClientName(field: Array(repeating: UInt8(ascii: "a"), count: 255)) }
        // Invalid UTF-8.
        #expect(throws: DomainError.self) { try ClientName(field: [0xff, 0xfe] + Array(repeating: 0, count: 253)) }
        // Wrong field size.
        #expect(throws: DomainError.self) { try ClientName(field: [0x61, 0x62, 0]) }
    }

    @Test("accepts the longest name and non-ASCII names")
    func accepts() throws {
        #expect(try ClientName(String(repeating: "x", count: 254)).field.count == 255)
        #expect(try ClientName("Zoë").value == "Zoë")
        #expect(try ClientName("ab").value == "ab")
    }
}

@Suite("AccountName")
struct AccountNameTests {
    @Test("names are equal byte for byte: canonically equivalent spellings are different names, in sets too")
    func byteWiseEquality() throws {
        let precomposed = try AccountName("caf\u{E9}")
        let combining = try AccountName("cafe\u{301}")
        #expect(precomposed != combining)
        #expect(Set([precomposed, combining]).count == 2)
        #expect(precomposed == (try AccountName("caf\u{E9}")))
        #expect((precomposed < combining) != (combining < precomposed))
    }
}
