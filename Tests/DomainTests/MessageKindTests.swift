import Domain
import Testing

@Suite("MessageKind")
struct MessageKindTests {
    @Test("wire values 1 to 4")
    func values() {
        #expect(MessageKind(rawValue: 1) == .keyRequest)
        #expect(MessageKind(rawValue: 4) == .file)
        #expect(MessageKind(rawValue: 0) == nil)
        #expect(MessageKind(rawValue: 5) == nil)
    }

    @Test("a key request carries nothing")
    func keyRequestEmpty() throws {
        try MessageKind.keyRequest.validate(contentSize: 0)
        #expect(throws: DomainError.self) { try MessageKind.keyRequest.validate(contentSize: 1) }
        try MessageKind.text.validate(contentSize: 100)
    }

    @Test("public keys are exactly 160 bytes")
    func publicKey() throws {
        _ = try PublicKey(bytes: [UInt8](repeating: 1, count: 160))
        #expect(throws: DomainError.self) { try PublicKey(bytes: [UInt8](repeating: 1, count: 162)) }
    }
}
