import Adapters
import Application
import Domain
import Foundation

extension SecureClient {
    /// What one transaction made of a delivery.
    enum KeepOutcome: Sendable {
        /// Kept (or found seen already, dropped, refused): the transaction holds what is to commit.
        case kept(SecureReceipt)
        /// It holds a file not yet downloaded: nothing was written.
        case needsFile(AttachmentPointer)
    }

    /// The body of a delivery's transaction: opens it once, and keeps the new session, deletes
    /// the one-time prekey it used, keeps it in the history and marks its id seen. Only the
    /// prekeys the envelope names are read. A file not yet downloaded (`file` nil) writes
    /// nothing and asks for it.
    static func keep(_ delivery: IncomingEnvelope, in records: any SecureClientRecords, cipher: EndToEndCipher,
                     file: FetchedFile?) throws -> KeepOutcome {
        let id = delivery.messageID
        if try records.isSeen(messageID: id) { return .kept(.alreadySeen(messageID: id)) }
        let contact = try records.contact(id: delivery.sender)
        let session = try records.session(with: delivery.sender)
        let parsed = try? SealedEnvelope(bytes: delivery.envelope)
        var prekeys = PrekeyPrivateKeys()
        if let part = parsed?.prekeyPart {
            for signed in try records.signedPrekeys() where signed.id == part.signedPrekeyID {
                prekeys.signed[signed.id] = signed.privateKey
            }
            if let oneTime = part.oneTimePrekeyID, let key = try records.oneTimePrekey(id: oneTime) { prekeys.oneTime[oneTime] = key }
        }
        let now = Self.now()
        var opened: OpenedEnvelope
        /// The earlier session it opened on, to make current again (`archived` key).
        var recoveredFrom: Int64?
        do throws(EndToEndError) {
            opened = try cipher.open(delivery.envelope, authenticatedSender: delivery.sender, session: session,
                                     prekeys: prekeys, knownIdentity: contact?.identity, now: now)
        } catch {
            // Both sides may have begun a session at once: a message on an earlier one still
            // opens, and that session becomes the current one again.
            var recovered: OpenedEnvelope?
            if error != .duplicate, !Self.isIdentityChange(error), let archived = try? records.archivedSessions(with: delivery.sender) {
                for (key, earlier) in archived {
                    guard let opened = try? cipher.open(delivery.envelope, authenticatedSender: delivery.sender, session: earlier,
                                                        prekeys: PrekeyPrivateKeys(), knownIdentity: contact?.identity, now: now)
                    else { continue }
                    recoveredFrom = key
                    recovered = opened
                    break
                }
            }
            if let recovered {
                opened = recovered
            } else {
                switch error {
                case .duplicate:
                    try records.markSeen(messageID: id, at: now)
                    return .kept(.duplicate(messageID: id, from: delivery.sender, name: contact?.name))
                case .identityChanged:
                    // Left on the server (not seen, not acknowledged) until the user trusts the key.
                    let presented = parsed?.prekeyPart?.senderIdentity
                    if var contact, let presented, contact.identity != presented {
                        contact.changedIdentity = presented
                        try records.saveContact(contact)
                    }
                    return .kept(.keyChanged(messageID: id, from: delivery.sender, name: contact?.name))
                default:
                    try records.markSeen(messageID: id, at: now)
                    return .kept(.failed(messageID: id, from: delivery.sender, name: contact?.name, reason: error.description))
                }
            }
        }
        if case .attachment(let pointer) = opened.content, file == nil { return .needsFile(pointer) }
        if let recoveredFrom {
            try? records.deleteArchivedSession(key: recoveredFrom)
            if let session { try? records.archiveSession(session) }
        } else if opened.beganSession, let session {
            try? records.archiveSession(session)
        }
        try records.saveSession(opened.session)
        if let used = opened.usedOneTimePrekeyID { try records.deleteOneTimePrekey(id: used) }
        if contact == nil {
            try records.saveContact(SecureContact(account: delivery.sender, name: nil, identity: opened.session.remoteIdentity))
        }
        let rejection = file?.rejection
        let savedPath = file?.savedPath
        let (kind, body): (String, String) = switch opened.content {
        case .text(let text): ("text", text)
        case .attachment(let pointer) where rejection != nil: ("file-failed", "\(pointer.fileName): \(rejection ?? "")")
        case .attachment(let pointer): ("file", savedPath ?? "\(pointer.fileName) (an attachment that was not downloaded)")
        case .unsupported(let type, _): ("unsupported", "content of type \(type)")
        }
        try records.appendHistory(SecureHistoryEntry(peer: delivery.sender, direction: .received, time: delivery.serverTime,
                                                     kind: kind, body: body, messageID: id))
        try records.markSeen(messageID: id, at: now)
        if case .attachment(let pointer) = opened.content, let rejection {
            return .kept(.fileRejected(messageID: id, from: delivery.sender, name: contact?.name, time: delivery.serverTime,
                                       fileName: pointer.fileName, reason: rejection))
        }
        if case .attachment(let pointer) = opened.content, let savedPath {
            return .kept(.file(messageID: id, from: delivery.sender, name: contact?.name, time: delivery.serverTime, fileName: pointer.fileName,
                               path: savedPath, size: Self.fileSize(savedPath)))
        }
        return .kept(.message(messageID: id, from: delivery.sender, name: contact?.name, time: delivery.serverTime, content: opened.content))
    }
}
