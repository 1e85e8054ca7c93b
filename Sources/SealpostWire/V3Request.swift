import Domain
import NIOCore

/// The request types (docs/protocol-v3.md §5).
public enum V3RequestType: UInt8, Sendable, CaseIterable {
    case register = 0x01
    case authenticate = 0x02
    case uploadPrekeys = 0x03
    case countPrekeys = 0x04
    case replaceSignedPrekey = 0x05
    case lookup = 0x06
    case list = 0x07
    case fetchBundle = 0x08
    case send = 0x09
    case ack = 0x0A
    case ping = 0x0B
    case attachCreate = 0x0C
    case attachWrite = 0x0D
    case attachStatus = 0x0E
    case attachRead = 0x0F
    case attachDone = 0x10
    case attachDelete = 0x11

    /// The attachment requests (§9): a session runs them one at a time, in the order received.
    public var isAttachment: Bool { (Self.attachCreate.rawValue...Self.attachDelete.rawValue).contains(rawValue) }
}

/// A REGISTER body (§5.1).
public struct V3Registration: Hashable, Sendable {
    public var name: String
    public var identity: IdentityKeys
    public var signedPrekey: Prekey
    public var oneTimePrekeys: [Prekey]
    public var proof: Signature

    public init(name: String, identity: IdentityKeys, signedPrekey: Prekey, oneTimePrekeys: [Prekey], proof: Signature) {
        self.name = name
        self.identity = identity
        self.signedPrekey = signedPrekey
        self.oneTimePrekeys = oneTimePrekeys
        self.proof = proof
    }

    /// The body up to, not including, the proof: what the proof signs after nonce and
    /// certificate hash (§4).
    public func unsignedBody() -> ByteBuffer {
        var buffer = ByteBuffer()
        writeUnsigned(into: &buffer)
        return buffer
    }

    func writeUnsigned(into buffer: inout ByteBuffer) {
        buffer.writeString16(name)
        buffer.writeIdentity(identity)
        buffer.writePrekey(signedPrekey)
        buffer.writeInteger(UInt16(oneTimePrekeys.count))
        for prekey in oneTimePrekeys { buffer.writePrekey(prekey) }
    }
}

/// A decoded client request.
public enum V3Request: Hashable, Sendable {
    public static let maxPrekeysPerUpload = 100
    public static let maxListPage: UInt16 = 100
    public static let maxAcksPerRequest = 256
    /// Recipients one attachment may name (§9.1).
    public static let maxAttachmentRecipients = 100
    /// ATTACH_READ's `length` may be up to `maxFrameBytes` less this, so that its RESULT fits
    /// a frame (§9.4).
    public static let attachmentReadHeadroom: UInt32 = 16

    case register(V3Registration)
    case authenticate(account: AccountID, signature: Signature)
    case uploadPrekeys([Prekey])
    case countPrekeys
    case replaceSignedPrekey(Prekey)
    case lookup(name: String)
    case list(after: String, limit: UInt16)
    case fetchBundle(AccountID)
    case send(recipient: AccountID, envelope: ByteBuffer)
    case ack([UInt64])
    case ping
    case attachCreate(size: UInt64, recipients: [AccountID])
    case attachWrite(AttachmentID, offset: UInt64, data: ByteBuffer)
    case attachStatus(AttachmentID)
    case attachRead(AttachmentID, offset: UInt64, length: UInt32)
    case attachDone(AttachmentID)
    case attachDelete(AttachmentID)

    public var type: V3RequestType {
        switch self {
        case .register: .register
        case .authenticate: .authenticate
        case .uploadPrekeys: .uploadPrekeys
        case .countPrekeys: .countPrekeys
        case .replaceSignedPrekey: .replaceSignedPrekey
        case .lookup: .lookup
        case .list: .list
        case .fetchBundle: .fetchBundle
        case .send: .send
        case .ack: .ack
        case .ping: .ping
        case .attachCreate: .attachCreate
        case .attachWrite: .attachWrite
        case .attachStatus: .attachStatus
        case .attachRead: .attachRead
        case .attachDone: .attachDone
        case .attachDelete: .attachDelete
        }
    }

    /// Decodes a request frame's body.
    ///
    /// - Parameter maxEnvelope: the largest envelope a SEND may carry, checked from its length
    ///   field before the envelope is read.
    /// - Returns: `nil` for a type that is not a request this codec knows (`unknownRequest`).
    public static func decode(type: UInt8, body: ByteBuffer, maxEnvelope: UInt32) throws -> V3Request? {
        guard let known = V3RequestType(rawValue: type) else { return nil }
        var reader = V3BodyReader(body)
        let request: V3Request
        switch known {
        case .register:
            let name = try reader.string16("name")
            let identity = try reader.identity("identity")
            let signed = try reader.prekey("signed prekey")
            let count = Int(try reader.u16("prekey count"))
            guard count <= maxPrekeysPerUpload else { throw V3WireError.invalidField("\(count) one-time prekeys, at most \(maxPrekeysPerUpload)") }
            let prekeys = try (0..<count).map { _ in try reader.prekey("one-time prekey") }
            request = .register(V3Registration(name: name, identity: identity, signedPrekey: signed, oneTimePrekeys: prekeys, proof: try reader.signature("proof")))
        case .authenticate:
            request = .authenticate(account: try reader.account("account"), signature: try reader.signature("signature"))
        case .uploadPrekeys:
            let count = Int(try reader.u16("prekey count"))
            guard (1...maxPrekeysPerUpload).contains(count) else { throw V3WireError.invalidField("\(count) prekeys, 1 to \(maxPrekeysPerUpload) allowed") }
            request = .uploadPrekeys(try (0..<count).map { _ in try reader.prekey("prekey") })
        case .countPrekeys:
            request = .countPrekeys
        case .replaceSignedPrekey:
            request = .replaceSignedPrekey(try reader.prekey("signed prekey"))
        case .lookup:
            request = .lookup(name: try reader.string16("name"))
        case .list:
            let after = try reader.string16("after")
            let limit = try reader.u16("limit")
            guard (1...maxListPage).contains(limit) else { throw V3WireError.invalidField("page limit \(limit), 1 to \(maxListPage) allowed") }
            request = .list(after: after, limit: limit)
        case .fetchBundle:
            request = .fetchBundle(try reader.account("account"))
        case .send:
            let recipient = try reader.account("recipient")
            let envelope = try reader.bytes32("envelope", limit: maxEnvelope)
            guard envelope.readableBytes > 0 else { throw V3WireError.invalidField("an envelope holds at least one byte") }
            request = .send(recipient: recipient, envelope: envelope)
        case .ack:
            let count = Int(try reader.u16("id count"))
            guard (1...maxAcksPerRequest).contains(count) else { throw V3WireError.invalidField("\(count) ids, 1 to \(maxAcksPerRequest) allowed") }
            request = .ack(try (0..<count).map { _ in try reader.u64("message id") })
        case .ping:
            request = .ping
        case .attachCreate:
            let size = try reader.u64("size")
            let count = Int(try reader.u16("recipient count"))
            guard (1...maxAttachmentRecipients).contains(count) else {
                throw V3WireError.invalidField("\(count) recipients, 1 to \(maxAttachmentRecipients) allowed")
            }
            request = .attachCreate(size: size, recipients: try (0..<count).map { _ in try reader.account("recipient") })
        case .attachWrite:
            let id = try reader.attachment("attachment")
            let offset = try reader.u64("offset")
            // Bounded by the frame, like an envelope: the data is a slice of it, not a copy.
            let data = try reader.bytes32("data", limit: maxEnvelope)
            guard data.readableBytes > 0 else { throw V3WireError.invalidField("a write carries at least one byte") }
            request = .attachWrite(id, offset: offset, data: data)
        case .attachStatus:
            request = .attachStatus(try reader.attachment("attachment"))
        case .attachRead:
            let id = try reader.attachment("attachment")
            let offset = try reader.u64("offset")
            let length = try reader.u32("length")
            guard length > 0 else { throw V3WireError.invalidField("a read asks for at least one byte") }
            request = .attachRead(id, offset: offset, length: length)
        case .attachDone:
            request = .attachDone(try reader.attachment("attachment"))
        case .attachDelete:
            request = .attachDelete(try reader.attachment("attachment"))
        }
        try reader.finish()
        return request
    }

    /// Appends the request as one frame with `requestID`.
    public func write(requestID: UInt32, into buffer: inout ByteBuffer) {
        V3Frame.write(type: type.rawValue, requestID: requestID, into: &buffer) { body in
            switch self {
            case .register(let registration):
                registration.writeUnsigned(into: &body)
                body.writeBytes(registration.proof.bytes)
            case .authenticate(let account, let signature):
                body.writeBytes(account.bytes)
                body.writeBytes(signature.bytes)
            case .uploadPrekeys(let prekeys):
                body.writeInteger(UInt16(prekeys.count))
                for prekey in prekeys { body.writePrekey(prekey) }
            case .countPrekeys, .ping:
                break
            case .replaceSignedPrekey(let prekey):
                body.writePrekey(prekey)
            case .lookup(let name):
                body.writeString16(name)
            case .list(let after, let limit):
                body.writeString16(after)
                body.writeInteger(limit)
            case .fetchBundle(let account):
                body.writeBytes(account.bytes)
            case .send(let recipient, let envelope):
                body.writeBytes(recipient.bytes)
                body.writeBytes32(envelope)
            case .ack(let ids):
                body.writeInteger(UInt16(ids.count))
                for id in ids { body.writeInteger(id) }
            case .attachCreate(let size, let recipients):
                body.writeInteger(size)
                body.writeInteger(UInt16(recipients.count))
                for recipient in recipients { body.writeBytes(recipient.bytes) }
            case .attachWrite(let id, let offset, let data):
                body.writeBytes(id.bytes)
                body.writeInteger(offset)
                body.writeBytes32(data)
            case .attachRead(let id, let offset, let length):
                body.writeBytes(id.bytes)
                body.writeInteger(offset)
                body.writeInteger(length)
            case .attachStatus(let id), .attachDone(let id), .attachDelete(let id):
                body.writeBytes(id.bytes)
            }
        }
    }
}
