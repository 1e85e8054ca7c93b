import NIOCore

/// The MQTT 3.1.1 packets the bench's client sends or receives (OASIS MQTT 3.1.1, §2–§3):
/// enough to connect with a persistent session, subscribe at QoS 1, publish at QoS 1 and
/// acknowledge both ways. Strings are written as MQTT strings (a `u16` length, then UTF-8).
public enum MQTTPacket: Hashable, Sendable {
    /// The packet types used here (the fixed header's high four bits).
    public enum Kind: UInt8, Sendable {
        case connect = 1
        case connack = 2
        case publish = 3
        case puback = 4
        case subscribe = 8
        case suback = 9
        case pingreq = 12
        case pingresp = 13
        case disconnect = 14
    }

    /// A PUBLISH: topic, QoS (0 or 1 here), the packet id a QoS 1 publish carries, payload.
    public struct Publish: Hashable, Sendable {
        public var topic: String
        public var qos: UInt8
        public var duplicate: Bool
        public var retain: Bool
        public var packetID: UInt16?
        public var payload: ByteBuffer

        public init(topic: String, qos: UInt8, duplicate: Bool = false, retain: Bool = false, packetID: UInt16?, payload: ByteBuffer) {
            self.topic = topic
            self.qos = qos
            self.duplicate = duplicate
            self.retain = retain
            self.packetID = packetID
            self.payload = payload
        }
    }

    case connect(clientID: String, cleanSession: Bool, keepAliveSeconds: UInt16)
    case connack(sessionPresent: Bool, returnCode: UInt8)
    case publish(Publish)
    case puback(packetID: UInt16)
    case subscribe(packetID: UInt16, topicFilter: String, qos: UInt8)
    /// One return code per filter: the granted QoS, or 0x80 for a refusal.
    case suback(packetID: UInt16, returnCodes: [UInt8])
    case pingreq
    case pingresp
    case disconnect

    /// The largest remaining length MQTT can express (four bytes of seven bits).
    public static let maxRemainingLength = 268_435_455

    // MARK: Encoding

    /// Appends the packet: fixed header, then variable header and payload.
    public func write(into buffer: inout ByteBuffer) {
        switch self {
        case .connect(let clientID, let cleanSession, let keepAlive):
            let id = Array(clientID.utf8)
            // "MQTT" (6), level (1), flags (1), keep alive (2), client id.
            Self.writeFixedHeader(Kind.connect.rawValue << 4, remainingLength: 10 + 2 + id.count, into: &buffer)
            Self.writeString(Array("MQTT".utf8), into: &buffer)
            buffer.writeInteger(UInt8(4))
            buffer.writeInteger(UInt8(cleanSession ? 0x02 : 0x00))
            buffer.writeInteger(keepAlive)
            Self.writeString(id, into: &buffer)
        case .connack(let sessionPresent, let returnCode):
            Self.writeFixedHeader(Kind.connack.rawValue << 4, remainingLength: 2, into: &buffer)
            buffer.writeInteger(UInt8(sessionPresent ? 1 : 0))
            buffer.writeInteger(returnCode)
        case .publish(let publish):
            Self.writePublishHead(
                topic: Array(publish.topic.utf8), qos: publish.qos, duplicate: publish.duplicate, retain: publish.retain,
                packetID: publish.packetID, payloadLength: publish.payload.readableBytes, into: &buffer)
            var payload = publish.payload
            buffer.writeBuffer(&payload)
        case .puback(let packetID):
            Self.writePuback(packetID: packetID, into: &buffer)
        case .subscribe(let packetID, let filter, let qos):
            let bytes = Array(filter.utf8)
            Self.writeFixedHeader(Kind.subscribe.rawValue << 4 | 0x02, remainingLength: 2 + 2 + bytes.count + 1, into: &buffer)
            buffer.writeInteger(packetID)
            Self.writeString(bytes, into: &buffer)
            buffer.writeInteger(qos)
        case .suback(let packetID, let codes):
            Self.writeFixedHeader(Kind.suback.rawValue << 4, remainingLength: 2 + codes.count, into: &buffer)
            buffer.writeInteger(packetID)
            buffer.writeBytes(codes)
        case .pingreq:
            Self.writeFixedHeader(Kind.pingreq.rawValue << 4, remainingLength: 0, into: &buffer)
        case .pingresp:
            Self.writeFixedHeader(Kind.pingresp.rawValue << 4, remainingLength: 0, into: &buffer)
        case .disconnect:
            Self.writeFixedHeader(Kind.disconnect.rawValue << 4, remainingLength: 0, into: &buffer)
        }
    }

    /// Appends a PUBLISH up to its payload, which the caller appends next (`payloadLength`
    /// bytes): the bench writes its payloads in place, without a buffer of their own.
    public static func writePublishHead(topic: [UInt8], qos: UInt8, duplicate: Bool = false, retain: Bool = false,
                                        packetID: UInt16?, payloadLength: Int, into buffer: inout ByteBuffer) {
        precondition(qos <= 1 && (qos == 0) == (packetID == nil), "QoS 1 publishes carry a packet id, QoS 0 ones none")
        let flags = (duplicate ? UInt8(0x08) : 0) | qos << 1 | (retain ? 1 : 0)
        let idLength = packetID == nil ? 0 : 2
        writeFixedHeader(Kind.publish.rawValue << 4 | flags, remainingLength: 2 + topic.count + idLength + payloadLength, into: &buffer)
        writeString(topic, into: &buffer)
        if let packetID { buffer.writeInteger(packetID) }
    }

    public static func writePuback(packetID: UInt16, into buffer: inout ByteBuffer) {
        writeFixedHeader(Kind.puback.rawValue << 4, remainingLength: 2, into: &buffer)
        buffer.writeInteger(packetID)
    }

    static func writeFixedHeader(_ first: UInt8, remainingLength: Int, into buffer: inout ByteBuffer) {
        precondition((0...maxRemainingLength).contains(remainingLength), "a remaining length fits in four bytes")
        buffer.writeInteger(first)
        var value = remainingLength
        repeat {
            var byte = UInt8(value & 0x7F)
            value >>= 7
            if value > 0 { byte |= 0x80 }
            buffer.writeInteger(byte)
        } while value > 0
    }

    static func writeString(_ bytes: [UInt8], into buffer: inout ByteBuffer) {
        precondition(bytes.count <= Int(UInt16.max), "an MQTT string is at most 65,535 bytes")
        buffer.writeInteger(UInt16(bytes.count))
        buffer.writeBytes(bytes)
    }

    // MARK: Decoding

    /// Decodes a packet a client receives (CONNACK, PUBLISH, PUBACK, SUBACK, PINGRESP) from
    /// its fixed header's first byte and its body (the bytes after the remaining length).
    /// Every field is checked, and the body must be used up exactly.
    public static func decode(first: UInt8, body: ByteBuffer) throws -> MQTTPacket {
        let type = first >> 4, flags = first & 0x0F
        guard let kind = Kind(rawValue: type) else { throw MQTTWireError.unexpectedType(type) }
        var body = body
        let packet: MQTTPacket
        switch kind {
        case .connack:
            try expectFlags(0, flags, type)
            let acknowledge = try readByte(&body, "connack flags")
            guard acknowledge & 0xFE == 0 else { throw MQTTWireError.malformed("CONNACK flags 0x\(String(acknowledge, radix: 16))") }
            packet = .connack(sessionPresent: acknowledge == 1, returnCode: try readByte(&body, "return code"))
        case .publish:
            let qos = (flags >> 1) & 0x03
            guard qos <= 2 else { throw MQTTWireError.badFlags(type: type, flags: flags) }
            let duplicate = flags & 0x08 != 0
            guard qos > 0 || !duplicate else { throw MQTTWireError.malformed("a QoS 0 PUBLISH with DUP set") }
            let topicBytes = try readString(&body, "topic")
            guard let topic = String(validating: topicBytes, as: UTF8.self) else { throw MQTTWireError.malformed("topic is not UTF-8") }
            guard !topicBytes.contains(0), !topicBytes.contains(UInt8(ascii: "+")), !topicBytes.contains(UInt8(ascii: "#")) else {
                throw MQTTWireError.malformed("topic name with NUL or a wildcard")
            }
            var packetID: UInt16?
            if qos > 0 {
                packetID = try readU16(&body, "packet id")
                guard packetID != 0 else { throw MQTTWireError.malformed("packet id 0") }
            }
            let payload = body.readSlice(length: body.readableBytes)!
            packet = .publish(Publish(topic: topic, qos: qos, duplicate: duplicate, retain: flags & 0x01 != 0, packetID: packetID, payload: payload))
        case .puback:
            try expectFlags(0, flags, type)
            packet = .puback(packetID: try readU16(&body, "packet id"))
        case .suback:
            try expectFlags(0, flags, type)
            let packetID = try readU16(&body, "packet id")
            let codes = body.readBytes(length: body.readableBytes)!
            guard !codes.isEmpty else { throw MQTTWireError.malformed("SUBACK without a return code") }
            for code in codes where code > 2 && code != 0x80 {
                throw MQTTWireError.malformed("SUBACK return code 0x\(String(code, radix: 16))")
            }
            packet = .suback(packetID: packetID, returnCodes: codes)
        case .pingresp:
            try expectFlags(0, flags, type)
            packet = .pingresp
        case .connect, .subscribe, .pingreq, .disconnect:
            // Client-to-server packets: a server never sends them.
            throw MQTTWireError.unexpectedType(type)
        }
        guard body.readableBytes == 0 else { throw MQTTWireError.malformed("\(body.readableBytes) bytes after a \(kind) packet's fields") }
        return packet
    }

    private static func expectFlags(_ expected: UInt8, _ flags: UInt8, _ type: UInt8) throws {
        guard flags == expected else { throw MQTTWireError.badFlags(type: type, flags: flags) }
    }

    private static func readByte(_ body: inout ByteBuffer, _ field: String) throws -> UInt8 {
        guard let value = body.readInteger(as: UInt8.self) else { throw MQTTWireError.malformed("ends before \(field)") }
        return value
    }

    private static func readU16(_ body: inout ByteBuffer, _ field: String) throws -> UInt16 {
        guard let value = body.readInteger(as: UInt16.self) else { throw MQTTWireError.malformed("ends before \(field)") }
        return value
    }

    private static func readString(_ body: inout ByteBuffer, _ field: String) throws -> [UInt8] {
        let length = Int(try readU16(&body, field + " length"))
        guard let bytes = body.readBytes(length: length) else { throw MQTTWireError.malformed("\(field) runs past the packet's end") }
        return bytes
    }
}
