/// The compact binary form in which the client stores an `EndToEndSession`, in place of the
/// JSON of its `Codable` conformance (whose byte arrays became arrays of numbers, and whose
/// coding was most of a received message's cost).
///
/// Layout, version 1: the marker byte 0x00 (JSON never starts with it), the version byte 0x01,
/// then the fields in declaration order. Byte strings are a u32 length and the bytes; an
/// optional is a byte 0 (absent) or 1 followed by the value; counters are big-endian u32, times
/// big-endian u64; lists are a u32 count and the items. Decoding checks every length against
/// what is left and that nothing follows the last field.
///
/// Secret: the bytes hold the ratchet's keys, as the session does.
public enum EndToEndSessionEncoding {
    /// The first byte of every binary form.
    public static let marker: UInt8 = 0x00
    /// The version this code writes (and the only one it reads).
    public static let version: UInt8 = 1

    /// A stored session that cannot be read.
    public struct FormatError: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
    }

    /// Whether `bytes` are in this binary form (any version), rather than the older JSON.
    public static func isBinary(_ bytes: some Collection<UInt8>) -> Bool {
        bytes.first == marker
    }

    /// The session in the binary form of `version`.
    public static func encode(_ session: EndToEndSession) -> [UInt8] {
        var writer = Writer()
        writer.out.reserveCapacity(512 + session.ratchet.skipped.count * 80 + session.ratchet.retiredReceivingKeys.count * 36)
        writer.byte(marker)
        writer.byte(version)
        writer.bytes(session.localAccount)
        writer.bytes(session.remoteAccount)
        writer.bytes(session.remoteSigningKey)
        writer.bytes(session.remoteAgreementKey)
        writer.bytes(session.remoteAgreementKeySignature)
        writer.bytes(session.associatedData)
        writer.optional(session.pendingPrekeyPart)
        writer.optional(session.initiatingEphemeralKey)
        let ratchet = session.ratchet
        writer.bytes(ratchet.rootKey)
        writer.bytes(ratchet.sendingPrivateKey)
        writer.bytes(ratchet.sendingPublicKey)
        writer.optional(ratchet.receivingKey)
        writer.optional(ratchet.sendingChainKey)
        writer.optional(ratchet.receivingChainKey)
        writer.u32(ratchet.sendCount)
        writer.u32(ratchet.receiveCount)
        writer.u32(ratchet.previousSendCount)
        writer.u32(UInt32(ratchet.skipped.count))
        for key in ratchet.skipped {
            writer.bytes(key.ratchetKey)
            writer.u32(key.messageNumber)
            writer.bytes(key.messageKey)
            writer.u64(key.storedAt)
        }
        writer.u32(UInt32(ratchet.retiredReceivingKeys.count))
        for key in ratchet.retiredReceivingKeys { writer.bytes(key) }
        return writer.out
    }

    /// The session in `bytes`, which must be exactly one binary form of `version`.
    ///
    /// - Throws: `FormatError` for another marker or version, a length past the end, or bytes
    ///   left over.
    public static func decode(_ bytes: [UInt8]) throws(FormatError) -> EndToEndSession {
        var reader = Reader(bytes: bytes)
        guard try reader.byte() == marker else { throw FormatError(description: "not a binary session") }
        let found = try reader.byte()
        guard found == version else { throw FormatError(description: "session format version \(found) is not known") }
        let localAccount = try reader.field()
        let remoteAccount = try reader.field()
        let remoteSigningKey = try reader.field()
        let remoteAgreementKey = try reader.field()
        let remoteAgreementKeySignature = try reader.field()
        let associatedData = try reader.field()
        let pendingPrekeyPart = try reader.optional()
        let initiatingEphemeralKey = try reader.optional()
        let rootKey = try reader.field()
        let sendingPrivateKey = try reader.field()
        let sendingPublicKey = try reader.field()
        let receivingKey = try reader.optional()
        let sendingChainKey = try reader.optional()
        let receivingChainKey = try reader.optional()
        let sendCount = try reader.u32()
        let receiveCount = try reader.u32()
        let previousSendCount = try reader.u32()
        let skippedCount = Int(try reader.u32())
        // Each skipped key takes at least 20 bytes: a count past that is a lie, not an allocation.
        guard skippedCount <= reader.remaining / 20 else { throw FormatError(description: "too many skipped keys for the bytes left") }
        var skipped: [RatchetState.SkippedKey] = []
        skipped.reserveCapacity(skippedCount)
        for _ in 0..<skippedCount {
            let ratchetKey = try reader.field()
            let number = try reader.u32()
            let messageKey = try reader.field()
            let storedAt = try reader.u64()
            skipped.append(RatchetState.SkippedKey(ratchetKey: ratchetKey, messageNumber: number, messageKey: messageKey, storedAt: storedAt))
        }
        let retiredCount = Int(try reader.u32())
        guard retiredCount <= reader.remaining / 4 else { throw FormatError(description: "too many retired keys for the bytes left") }
        var retired: [[UInt8]] = []
        retired.reserveCapacity(retiredCount)
        for _ in 0..<retiredCount { retired.append(try reader.field()) }
        guard reader.remaining == 0 else { throw FormatError(description: "\(reader.remaining) bytes follow the session") }
        let ratchet = RatchetState(
            rootKey: rootKey, sendingPrivateKey: sendingPrivateKey, sendingPublicKey: sendingPublicKey, receivingKey: receivingKey,
            sendingChainKey: sendingChainKey, receivingChainKey: receivingChainKey, sendCount: sendCount, receiveCount: receiveCount,
            previousSendCount: previousSendCount, skipped: skipped, retiredReceivingKeys: retired)
        return EndToEndSession(
            localAccount: localAccount, remoteAccount: remoteAccount, remoteSigningKey: remoteSigningKey,
            remoteAgreementKey: remoteAgreementKey, remoteAgreementKeySignature: remoteAgreementKeySignature,
            associatedData: associatedData, ratchet: ratchet, pendingPrekeyPart: pendingPrekeyPart,
            initiatingEphemeralKey: initiatingEphemeralKey)
    }

    private struct Writer {
        var out: [UInt8] = []

        mutating func byte(_ value: UInt8) { out.append(value) }

        mutating func u32(_ value: UInt32) {
            out.append(UInt8(truncatingIfNeeded: value >> 24))
            out.append(UInt8(truncatingIfNeeded: value >> 16))
            out.append(UInt8(truncatingIfNeeded: value >> 8))
            out.append(UInt8(truncatingIfNeeded: value))
        }

        mutating func u64(_ value: UInt64) {
            u32(UInt32(truncatingIfNeeded: value >> 32))
            u32(UInt32(truncatingIfNeeded: value))
        }

        mutating func bytes(_ value: [UInt8]) {
            u32(UInt32(value.count))
            out.append(contentsOf: value)
        }

        mutating func optional(_ value: [UInt8]?) {
            guard let value else { return byte(0) }
            byte(1)
            bytes(value)
        }
    }

    private struct Reader {
        let bytes: [UInt8]
        var index = 0

        var remaining: Int { bytes.count - index }

        mutating func byte() throws(FormatError) -> UInt8 {
            guard index < bytes.count else { throw FormatError(description: "the session ends early") }
            defer { index += 1 }
            return bytes[index]
        }

        mutating func u32() throws(FormatError) -> UInt32 {
            guard remaining >= 4 else { throw FormatError(description: "the session ends early") }
            defer { index += 4 }
            return UInt32(bytes[index]) << 24 | UInt32(bytes[index + 1]) << 16 | UInt32(bytes[index + 2]) << 8 | UInt32(bytes[index + 3])
        }

        mutating func u64() throws(FormatError) -> UInt64 {
            UInt64(try u32()) << 32 | UInt64(try u32())
        }

        mutating func field() throws(FormatError) -> [UInt8] {
            let count = Int(try u32())
            guard count <= remaining else { throw FormatError(description: "a field of \(count) bytes runs past the end") }
            defer { index += count }
            return Array(bytes[index..<(index + count)])
        }

        mutating func optional() throws(FormatError) -> [UInt8]? {
            let flag = try byte()
            guard flag <= 1 else { throw FormatError(description: "optional flag \(flag) is neither 0 nor 1") }
            return flag == 0 ? nil : try field()
        }
    }
}
