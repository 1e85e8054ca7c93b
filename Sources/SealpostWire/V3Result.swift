import Domain
import NIOCore

/// A RESULT body, typed by the request it answers (docs/protocol-v3.md §5).
public enum V3Result: Hashable, Sendable {
    /// REGISTER: the new account.
    case registered(AccountID)
    /// AUTHENTICATE: one-time prekeys left.
    case authenticated(oneTimePrekeysLeft: UInt16)
    /// UPLOAD_PREKEYS: one-time prekeys stored after the upload.
    case prekeysStored(UInt16)
    /// COUNT_PREKEYS.
    case prekeyCount(UInt16)
    /// REPLACE_SIGNED_PREKEY, PING: nothing.
    case done
    /// LOOKUP.
    case account(AccountID, name: String, identity: IdentityKeys)
    /// LIST: a page, and whether names follow it.
    case page([V3ListedAccount], more: Bool)
    /// FETCH_BUNDLE.
    case bundle(PrekeyBundle)
    /// SEND.
    case sent(messageID: UInt64, serverTime: UInt64)
    /// ACK: messages deleted.
    case acknowledged(UInt16)
    /// ATTACH_CREATE: the new attachment.
    case attachmentCreated(AttachmentID)
    /// ATTACH_WRITE: bytes stored so far, the next write's offset.
    case attachmentStored(UInt64)
    /// ATTACH_STATUS.
    case attachmentStatus(V3AttachmentStatus)
    /// ATTACH_READ: the bytes asked for (fewer only at the end).
    case attachmentData(ByteBuffer)
    /// ATTACH_DONE: recipients that have not said they are done yet.
    case attachmentRecipientsLeft(UInt16)

    /// Decodes the RESULT body of a request of type `request`.
    public static func decode(answering request: V3RequestType, body: ByteBuffer) throws -> V3Result {
        var reader = V3BodyReader(body)
        let result: V3Result
        switch request {
        case .register:
            result = .registered(try reader.account("account"))
        case .authenticate:
            result = .authenticated(oneTimePrekeysLeft: try reader.u16("prekeys left"))
        case .uploadPrekeys:
            result = .prekeysStored(try reader.u16("prekeys stored"))
        case .countPrekeys:
            result = .prekeyCount(try reader.u16("prekey count"))
        case .replaceSignedPrekey, .ping:
            result = .done
        case .lookup:
            result = .account(try reader.account("account"), name: try reader.string16("name"), identity: try reader.identity("identity"))
        case .list:
            let count = Int(try reader.u16("count"))
            guard count <= Int(V3Request.maxListPage) else { throw V3WireError.invalidField("a page of \(count) accounts, at most \(V3Request.maxListPage)") }
            let accounts = try (0..<count).map { _ in V3ListedAccount(account: try reader.account("account"), name: try reader.string16("name")) }
            let more = try reader.u8("more")
            guard more <= 1 else { throw V3WireError.invalidField("more must be 0 or 1") }
            result = .page(accounts, more: more == 1)
        case .fetchBundle:
            let account = try reader.account("account")
            let identity = try reader.identity("identity")
            let signed = try reader.prekey("signed prekey")
            let has = try reader.u8("hasOneTimePrekey")
            guard has <= 1 else { throw V3WireError.invalidField("hasOneTimePrekey must be 0 or 1") }
            let oneTime = has == 1 ? try reader.prekey("one-time prekey") : nil
            result = .bundle(PrekeyBundle(account: account, identity: identity, signedPrekey: signed, oneTimePrekey: oneTime))
        case .send:
            result = .sent(messageID: try reader.u64("message id"), serverTime: try reader.u64("server time"))
        case .ack:
            result = .acknowledged(try reader.u16("deleted"))
        case .attachCreate:
            result = .attachmentCreated(try reader.attachment("attachment"))
        case .attachWrite:
            result = .attachmentStored(try reader.u64("stored"))
        case .attachStatus:
            result = .attachmentStatus(V3AttachmentStatus(
                size: try reader.u64("size"), stored: try reader.u64("stored"), expiresAt: try reader.u64("expiresAt")))
        case .attachRead:
            result = .attachmentData(try reader.bytes32("data", limit: UInt32.max))
        case .attachDone:
            result = .attachmentRecipientsLeft(try reader.u16("recipientsLeft"))
        case .attachDelete:
            result = .done
        }
        try reader.finish()
        return result
    }

    /// The body, to send in a RESULT frame.
    public func body() -> ByteBuffer {
        var body = ByteBuffer()
        switch self {
        case .registered(let account):
            body.writeBytes(account.bytes)
        case .authenticated(let count), .prekeysStored(let count), .prekeyCount(let count), .acknowledged(let count),
             .attachmentRecipientsLeft(let count):
            body.writeInteger(count)
        case .done:
            break
        case .account(let account, let name, let identity):
            body.writeBytes(account.bytes)
            body.writeString16(name)
            body.writeIdentity(identity)
        case .page(let accounts, let more):
            body.writeInteger(UInt16(accounts.count))
            for listed in accounts {
                body.writeBytes(listed.account.bytes)
                body.writeString16(listed.name)
            }
            body.writeInteger(UInt8(more ? 1 : 0))
        case .bundle(let bundle):
            body.writeBytes(bundle.account.bytes)
            body.writeIdentity(bundle.identity)
            body.writePrekey(bundle.signedPrekey)
            if let oneTime = bundle.oneTimePrekey {
                body.writeInteger(UInt8(1))
                body.writePrekey(oneTime)
            } else {
                body.writeInteger(UInt8(0))
            }
        case .sent(let id, let time):
            body.writeInteger(id)
            body.writeInteger(time)
        case .attachmentCreated(let id):
            body.writeBytes(id.bytes)
        case .attachmentStored(let stored):
            body.writeInteger(stored)
        case .attachmentStatus(let status):
            body.writeInteger(status.size)
            body.writeInteger(status.stored)
            body.writeInteger(status.expiresAt)
        case .attachmentData(let data):
            body.writeBytes32(data)
        }
        return body
    }
}

/// ATTACH_STATUS's answer (§9.3): where an upload or a download resumes.
public struct V3AttachmentStatus: Hashable, Sendable {
    /// The size declared by ATTACH_CREATE.
    public var size: UInt64
    /// Bytes stored so far; the attachment is complete when it equals `size`.
    public var stored: UInt64
    /// When the attachment is deleted whatever happens (ms since 1970-01-01 UTC).
    public var expiresAt: UInt64

    public init(size: UInt64, stored: UInt64, expiresAt: UInt64) {
        self.size = size
        self.stored = stored
        self.expiresAt = expiresAt
    }

    public var isComplete: Bool { stored == size }
}

/// One entry of a LIST page.
public struct V3ListedAccount: Hashable, Sendable {
    public var account: AccountID
    public var name: String

    public init(account: AccountID, name: String) {
        self.account = account
        self.name = name
    }
}
