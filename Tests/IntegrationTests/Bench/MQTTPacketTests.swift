@testable import Bench
import NIOCore
import NIOTestUtils
import Testing

/// The bench's MQTT 3.1.1 codec against hand layouts of the standard (OASIS MQTT 3.1.1,
/// §2.2 and §3), and its decoder's strictness.
@Suite("Bench: MQTT 3.1.1 packets")
struct MQTTPacketTests {
    static func bytes(_ packet: MQTTPacket) -> [UInt8] {
        var buffer = ByteBuffer()
        packet.write(into: &buffer)
        return Array(buffer.readableBytesView)
    }

    static func string(_ text: String) -> [UInt8] {
        [UInt8(text.utf8.count >> 8), UInt8(text.utf8.count & 0xFF)] + Array(text.utf8)
    }

    @Test("the packets the client writes have the standard's layouts")
    func clientPackets() {
        // CONNECT: "MQTT", level 4, flags 0 (clean session off), keep alive 60, client id.
        #expect(Self.bytes(.connect(clientID: "bench-1", cleanSession: false, keepAliveSeconds: 60))
            == [0x10, 19] + Self.string("MQTT") + [4, 0x00, 0, 60] + Self.string("bench-1"))
        #expect(Self.bytes(.connect(clientID: "c", cleanSession: true, keepAliveSeconds: 0x0102))[9] == 0x02)
        // SUBSCRIBE: reserved flags 0010, packet id, filter, requested QoS.
        #expect(Self.bytes(.subscribe(packetID: 1, topicFilter: "a/b", qos: 1)) == [0x82, 8, 0, 1] + Self.string("a/b") + [1])
        // PUBLISH at QoS 1: flags 0010, topic, packet id, payload.
        #expect(Self.bytes(.publish(.init(topic: "t", qos: 1, packetID: 0x1234, payload: ByteBuffer(bytes: [9, 8, 7]))))
            == [0x32, 8] + Self.string("t") + [0x12, 0x34, 9, 8, 7])
        #expect(Self.bytes(.publish(.init(topic: "t", qos: 0, retain: true, packetID: nil, payload: ByteBuffer(bytes: [1]))))
            == [0x31, 4] + Self.string("t") + [1])
        #expect(Self.bytes(.puback(packetID: 0xBEEF)) == [0x40, 2, 0xBE, 0xEF])
        #expect(Self.bytes(.pingreq) == [0xC0, 0])
        #expect(Self.bytes(.disconnect) == [0xE0, 0])
    }

    @Test("remaining length: the shortest form, one to four bytes, written and read back")
    func remainingLength() throws {
        let cases: [(Int, [UInt8])] = [
            (0, [0x00]), (127, [0x7F]), (128, [0x80, 0x01]), (16_383, [0xFF, 0x7F]), (16_384, [0x80, 0x80, 0x01]),
            (2_097_151, [0xFF, 0xFF, 0x7F]), (2_097_152, [0x80, 0x80, 0x80, 0x01]), (268_435_455, [0xFF, 0xFF, 0xFF, 0x7F]),
        ]
        for (value, encoded) in cases {
            var buffer = ByteBuffer()
            MQTTPacket.writeFixedHeader(0x30, remainingLength: value, into: &buffer)
            #expect(Array(buffer.readableBytesView) == [0x30] + encoded, "\(value)")
            let read = try #require(try MQTTPacketDecoder.remainingLength(in: buffer))
            #expect(read.length == value && read.headerSize == 1 + encoded.count, "\(value)")
        }
        // Incomplete: more bytes are needed, nothing is thrown.
        #expect(try MQTTPacketDecoder.remainingLength(in: ByteBuffer(bytes: [0x30, 0x80, 0x80])) == nil)
    }

    @Test("a broker's packets decode the same fed byte by byte, whole, and in batches")
    func brokerPackets() throws {
        let payload = (0..<300).map { UInt8(truncatingIfNeeded: $0) }
        let publish = MQTTPacket.publish(.init(topic: "sealpost-bench/x", qos: 1, duplicate: true, packetID: 7, payload: ByteBuffer(bytes: payload)))
        var stream = ByteBuffer()
        stream.writeBytes([0x20, 2, 1, 0])                       // CONNACK, session present
        stream.writeBytes([0x90, 3, 0, 1, 1])                    // SUBACK 1: QoS 1 granted
        publish.write(into: &stream)                             // a two-byte remaining length
        stream.writeBytes([0x40, 2, 0xFF, 0xFE])                 // PUBACK
        stream.writeBytes([0xD0, 0])                             // PINGRESP
        stream.writeBytes([0x90, 4, 0, 2, 0x80, 0])              // SUBACK 2: one refused, one QoS 0
        let expected: [MQTTPacket] = [
            .connack(sessionPresent: true, returnCode: 0), .suback(packetID: 1, returnCodes: [1]), publish,
            .puback(packetID: 0xFFFE), .pingresp, .suback(packetID: 2, returnCodes: [0x80, 0]),
        ]
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: [(stream, expected)]) { MQTTPacketDecoder() }
    }

    static func decodeOne(_ bytes: [UInt8], maxLength: Int = 1 << 20) throws -> MQTTPacket? {
        var decoder = MQTTPacketDecoder(maxLength: maxLength)
        var buffer = ByteBuffer(bytes: bytes)
        return try decoder.decode(buffer: &buffer)
    }

    @Test("strict: the remaining length's form and size, flags, QoS, field lengths, codes, who sends what")
    func strict() throws {
        #expect(throws: MQTTWireError.badRemainingLength("more than four bytes")) { try Self.decodeOne([0x30, 0x80, 0x80, 0x80, 0x80, 0x01]) }
        #expect(throws: MQTTWireError.badRemainingLength("not in its shortest form")) { try Self.decodeOne([0x40, 0x82, 0x00, 0, 1]) }
        // Refused from the header alone, before the body arrives.
        #expect(throws: MQTTWireError.tooLarge(2_000, limit: 1_000)) { try Self.decodeOne([0x30, 0xD0, 0x0F], maxLength: 1_000) }
        #expect(throws: MQTTWireError.badFlags(type: 4, flags: 1)) { try Self.decodeOne([0x41, 2, 0, 1]) }
        #expect(throws: MQTTWireError.badFlags(type: 3, flags: 6)) { try Self.decodeOne([0x36, 5] + Self.string("t") + [0, 1]) }
        #expect(throws: MQTTWireError.self) { try Self.decodeOne([0x38, 4] + Self.string("t") + [1]) }     // DUP at QoS 0
        #expect(throws: MQTTWireError.self) { try Self.decodeOne([0x40, 3, 0, 1, 0]) }                      // a byte too many
        #expect(throws: MQTTWireError.self) { try Self.decodeOne([0x40, 1, 0]) }                            // a byte too few
        #expect(throws: MQTTWireError.self) { try Self.decodeOne([0x32, 4] + Self.string("t") + [0]) }     // no room for the id
        #expect(throws: MQTTWireError.self) { try Self.decodeOne([0x32, 5] + Self.string("t") + [0, 0]) }  // packet id 0
        #expect(throws: MQTTWireError.self) { try Self.decodeOne([0x30, 5] + Self.string("a+b")) }         // a wildcard
        #expect(throws: MQTTWireError.self) { try Self.decodeOne([0x30, 5, 0, 3, 0x61, 0xFF, 0x62]) }       // not UTF-8
        #expect(throws: MQTTWireError.self) { try Self.decodeOne([0x90, 3, 0, 1, 3]) }                      // SUBACK code 3
        #expect(throws: MQTTWireError.self) { try Self.decodeOne([0x90, 2, 0, 1]) }                         // no code
        #expect(throws: MQTTWireError.self) { try Self.decodeOne([0x20, 2, 2, 0]) }                         // CONNACK flags
        #expect(throws: MQTTWireError.unexpectedType(12)) { try Self.decodeOne([0xC0, 0]) }                 // PINGREQ
        #expect(throws: MQTTWireError.unexpectedType(0)) { try Self.decodeOne([0x00, 0]) }
        // A connection that ends mid-packet.
        var decoder = MQTTPacketDecoder()
        var partial = ByteBuffer(bytes: [0x40, 2, 0])
        #expect(try decoder.decode(buffer: &partial) == nil)
        #expect(throws: MQTTWireError.endedMidPacket(missing: 1)) { try decoder.decodeLast(buffer: &partial, seenEOF: true) }
    }
}
