import Domain
import Testing

@Suite("ClientID")
struct ClientIDTests {
    @Test("bytes, hex and back")
    func roundTrip() throws {
        let bytes: [UInt8] = [0x4c, 0x48, 0x85, 0x8c, 0x6f, 0x92, 0xf9, 0x23, 0x24, 0xed, 0x83, 0xa1, 0x83, 0x32, 0xa6, 0x2e]
        let id = try #require(ClientID(bytes: bytes))
        #expect(id.bytes == bytes)
        #expect(id.hex == "4c48858c6f92f92324ed83a18332a62e")
        #expect(ClientID(hex: "4C48858C6F92F92324ED83A18332A62E") == id)
        #expect(ClientID(hex: id.hex) == id)
    }

    @Test("refuses wrong lengths and non-hex")
    func refuses() {
        #expect(ClientID(bytes: [UInt8](repeating: 1, count: 15)) == nil)
        #expect(ClientID(bytes: [UInt8](repeating: 1, count: 17)) == nil)
        #expect(ClientID(hex: "zz48858c6f92f92324ed83a18332a62e") == nil)
        #expect(ClientID(hex: "4c48") == nil)
    }

    @Test("zero is the register header's id")
    func zero() {
        #expect(ClientID.zero.isZero)
        #expect(ClientID.zero.bytes == [UInt8](repeating: 0, count: 16))
        var generator = SystemRandomNumberGenerator()
        #expect(!ClientID.random(using: &generator).isZero)
    }
}
