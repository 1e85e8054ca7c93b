import Application
import Domain
import NIOCore
import SealpostWire

/// Runs each v3 request through its use case and turns the outcome into the frame that
/// answers it (docs/protocol-v3.md §5): the one place where use-case refusals become error
/// codes.
public struct SecureRequestRouter: Sendable {
    public let useCases: AccountUseCases

    public init(useCases: AccountUseCases) {
        self.useCases = useCases
    }

    /// REGISTER or AUTHENTICATE on an unauthenticated session.
    public enum SignIn: Sendable {
        case accepted(AccountID, V3Result, notices: [V3Notice])
        case refused(V3Error)
    }

    /// - Parameter source: the client's address (IP, no port), which the registration and
    ///   failed-authentication limits count by; `nil` leaves them out.
    public func signIn(_ request: V3Request, binding: ChannelBinding, source: String? = nil) async -> SignIn {
        do {
            switch request {
            case .register(let registration):
                let account = try await useCases.register(AccountRegistration(
                    name: registration.name, identity: registration.identity, signedPrekey: registration.signedPrekey,
                    oneTimePrekeys: registration.oneTimePrekeys, proof: registration.proof,
                    unsignedBody: Array(registration.unsignedBody().readableBytesView)), binding: binding, from: source)
                return .accepted(account.id, .registered(account.id), notices: [])
            case .authenticate(let id, let signature):
                let (account, left) = try await useCases.authenticate(account: id, signature: signature, binding: binding, from: source)
                let notices: [V3Notice] = left < useCases.limits.prekeysLowThreshold ? [.prekeysLow(count: Self.u16(left))] : []
                return .accepted(account.id, .authenticated(oneTimePrekeysLeft: Self.u16(left)), notices: notices)
            default:
                return .refused(V3Error(.notAuthenticated, message: "authenticate or register first"))
            }
        } catch {
            return .refused(Self.error(for: error))
        }
    }

    /// Any other request, as `account`; ACK goes through the session's `delivery`.
    ///
    /// - Parameter maxAttachmentRead: the largest ATTACH_READ whose RESULT fits the session's
    ///   frames (§9.4).
    public func answer(_ request: V3Request, requestID: UInt32, account: AccountID, delivery: AccountDelivery?,
                       maxAttachmentRead: Int = Int(V3Frame.defaultMaxLength - V3Request.attachmentReadHeadroom)) async -> V3ServerMessage {
        do {
            let result: V3Result
            switch request {
            case .register, .authenticate:
                return .error(requestID: requestID, V3Error(.alreadyAuthenticated, message: "this session is authenticated already"))
            case .uploadPrekeys(let prekeys):
                result = .prekeysStored(Self.u16(try await useCases.prekeys.upload(prekeys, for: account)))
            case .countPrekeys:
                result = .prekeyCount(Self.u16(try await useCases.prekeys.count(for: account)))
            case .replaceSignedPrekey(let prekey):
                try await useCases.prekeys.replaceSigned(prekey, for: account)
                result = .done
            case .lookup(let name):
                let found = try await useCases.find.lookUp(name: name)
                result = .account(found.id, name: found.name.value, identity: found.identity)
            case .list(let after, let limit):
                let page = try await useCases.find.list(after: after, limit: Int(limit))
                result = .page(page.accounts.map { V3ListedAccount(account: $0.id, name: $0.name.value) }, more: page.more)
            case .fetchBundle(let owner):
                result = .bundle(try await useCases.fetchBundle(of: owner, by: account))
            case .send(let recipient, let envelope):
                let sent = try await useCases.send(Array(envelope.readableBytesView), to: recipient, from: account)
                result = .sent(messageID: sent.id.rawValue, serverTime: sent.storedAt)
            case .ack(let ids):
                guard let delivery else { throw AccountRequestError.unavailable("no delivery on this session") }
                result = .acknowledged(Self.u16(try await delivery.acknowledge(ids.map(MessageID.init))))
            case .ping:
                result = .done
            case .attachCreate, .attachWrite, .attachStatus, .attachRead, .attachDone, .attachDelete:
                guard let attachments = useCases.attachments else {
                    throw AccountRequestError.unavailable("this server keeps no attachments")
                }
                result = try await Self.answer(request, attachments: attachments, account: account, maxRead: maxAttachmentRead)
            }
            return .result(requestID: requestID, body: result.body())
        } catch {
            return .error(requestID: requestID, Self.error(for: error))
        }
    }

    /// Consecutive ATTACH_WRITEs to attachment `id`, each at the offset where the one before
    /// ends, stored in one append (one write to storage); their answers in order. `nil` when
    /// that append was refused or failed: nothing of it was stored, and the caller answers
    /// the writes one by one instead, each with its own outcome.
    public func answerWrites(_ writes: [(requestID: UInt32, offset: UInt64, data: ByteBuffer)], to id: AttachmentID,
                             account: AccountID) async -> [V3ServerMessage]? {
        guard let attachments = useCases.attachments, let first = writes.first else { return nil }
        guard (try? await attachments.write(id, at: first.offset, AttachmentChunks(writes.map(\.data)), by: account)) != nil else {
            return nil
        }
        return writes.map { write in
            .result(requestID: write.requestID, body: V3Result.attachmentStored(write.offset + UInt64(write.data.readableBytes)).body())
        }
    }

    /// Consecutive ATTACH_READs of attachment `id`, each from the offset where the one before
    /// ends, read from storage in one go; their answers in order, each its own slice of it.
    /// `nil` when that read failed or was refused: the caller answers them one by one.
    public func answerReads(_ reads: [(requestID: UInt32, offset: UInt64, length: UInt32)], of id: AttachmentID,
                            account: AccountID, maxAttachmentRead: Int) async -> [V3ServerMessage]? {
        guard let attachments = useCases.attachments, let first = reads.first,
              reads.allSatisfy({ Int($0.length) <= maxAttachmentRead }) else { return nil }
        let total = reads.reduce(0) { $0 + Int($1.length) }
        guard let bytes = try? await attachments.read(id, at: first.offset, count: total, maxCount: total, for: account) else {
            return nil
        }
        var whole = ByteBuffer(bytes: bytes)
        return reads.map { read in
            let part = whole.readSlice(length: min(Int(read.length), whole.readableBytes)) ?? ByteBuffer()
            return .result(requestID: read.requestID, body: V3Result.attachmentData(part).body())
        }
    }

    /// An attachment request (§9).
    private static func answer(_ request: V3Request, attachments: ManageAttachments, account: AccountID, maxRead: Int) async throws -> V3Result {
        switch request {
        case .attachCreate(let size, let recipients):
            return .attachmentCreated(try await attachments.create(size: size, recipients: recipients, by: account).id)
        case .attachWrite(let id, let offset, let data):
            return .attachmentStored(try await attachments.write(id, at: offset, data, by: account))
        case .attachStatus(let id):
            let status = try await attachments.status(id, for: account)
            return .attachmentStatus(V3AttachmentStatus(size: status.size, stored: status.stored, expiresAt: status.expiresAt))
        case .attachRead(let id, let offset, let length):
            let bytes = try await attachments.read(id, at: offset, count: Int(length), maxCount: maxRead, for: account)
            return .attachmentData(ByteBuffer(bytes: bytes))
        case .attachDone(let id):
            return .attachmentRecipientsLeft(u16(try await attachments.done(id, by: account)))
        case .attachDelete(let id):
            try await attachments.delete(id, by: account)
            return .done
        default:
            throw AccountRequestError.unavailable("not an attachment request")
        }
    }

    /// The ERROR body for a refusal or a failure.
    static func error(for error: any Error) -> V3Error {
        switch error {
        case let refusal as AccountRequestError:
            let text = refusal.description
            switch refusal {
            case .invalidName: return V3Error(.invalidName, message: text)
            case .nameTaken: return V3Error(.nameTaken, message: text)
            case .badSignature: return V3Error(.badSignature, message: text)
            case .duplicatePrekey: return V3Error(.duplicatePrekey, message: text)
            case .tooManyPrekeys: return V3Error(.tooManyPrekeys, message: text)
            case .authenticationFailed: return V3Error(.authenticationFailed, message: text)
            case .noSuchAccount: return V3Error(.noSuchAccount, message: text)
            case .tooLarge: return V3Error(.tooLarge, message: text)
            case .directoryClosed: return V3Error(.directoryClosed, message: text)
            case .rateLimited(let after, _): return V3Error(.rateLimited, retryAfterMilliseconds: after, message: text)
            case .inboxFull(let after, _): return V3Error(.inboxFull, retryAfterMilliseconds: after, message: text)
            case .unavailable: return V3Error(.unavailable, retryAfterMilliseconds: 1000, message: text)
            case .noSuchAttachment: return V3Error(.noSuchAttachment, message: text)
            case .wrongOffset: return V3Error(.wrongOffset, message: text)
            case .attachmentIncomplete: return V3Error(.attachmentIncomplete, message: text)
            }
        default:
            // Storage failures: the text names the store's trouble, never a key or a payload.
            return V3Error(.unavailable, retryAfterMilliseconds: 1000, message: "the server cannot serve this now")
        }
    }

    static func u16(_ count: Int) -> UInt16 { UInt16(clamping: count) }
}
