import Adapters
import Application
import Domain
import Foundation
import Synchronization

extension SecureClient {
    // MARK: Receiving

    /// Takes one delivery: opens it, and in one transaction keeps the new session, deletes the
    /// one-time prekey it used, keeps it in the history and marks its id seen; then
    /// acknowledges it. `$SEALPOST_TEST_DIE_BEFORE_ACK` kills the process between the commit
    /// and the ACK (before a file's partial download is deleted), `$SEALPOST_TEST_DIE_BEFORE_COMMIT`
    /// between a file's saving and the commit (the crash-safety tests).
    ///
    /// A file is downloaded, checked and saved before that transaction; when that fails,
    /// nothing is kept and nothing acknowledged, so the message comes again (and the download
    /// resumes). A file that fails its checks (`AttachmentRejection`) `fileCheckAttempts` times
    /// is given up: the message is taken as above, kept in the history as `file-failed` with
    /// the reason, and acknowledged.
    func receive(_ delivery: IncomingEnvelope, on connection: any AccountServerConnection) async throws -> SecureReceipt {
        let cipher = self.cipher
        var saved: String?
        var partial: String?
        var rejected: String?
        var attachment: AttachmentPointer?
        if let pointer = try await peekAttachment(delivery) {
            do {
                (saved, partial) = try await download(pointer, on: connection, progress: TerminalProgress.makeIfTerminal())
                attachment = pointer
            } catch {
                let name = try? await store.read { try $0.contact(id: delivery.sender)?.name }
                var reason = (error as? AccountServerError).map(Self.words) ?? "\(error)"
                if error is AttachmentRejection {
                    let counter = Self.fileAttemptsCounter(delivery.messageID)
                    let attempts = try await store.write { records in
                        let attempts = try records.counter(counter) + 1
                        try records.setCounter(counter, to: attempts)
                        return attempts
                    }
                    if attempts >= Self.fileCheckAttempts {
                        rejected = "\(reason) (\(attempts) attempts)"
                        attachment = pointer
                    } else {
                        reason += " (attempt \(attempts) of \(Self.fileCheckAttempts))"
                    }
                }
                if rejected == nil {
                    return .fileFailed(messageID: delivery.messageID, from: delivery.sender, name: name ?? nil, reason: reason)
                }
            }
        }
        let savedPath = saved
        let rejection = rejected
        if saved != nil, ProcessInfo.processInfo.environment["SEALPOST_TEST_DIE_BEFORE_COMMIT"] != nil {
            kill(getpid(), SIGKILL)
        }
        let receipt: SecureReceipt = try await store.write { records in
            let id = delivery.messageID
            // Taken or given up here, and known already otherwise: its file's attempts are done.
            try records.deleteCounter(Self.fileAttemptsCounter(id))
            if try records.isSeen(messageID: id) { return .alreadySeen(messageID: id) }
            let contact = try records.contact(id: delivery.sender)
            let session = try records.session(with: delivery.sender)
            var prekeys = PrekeyPrivateKeys(oneTime: try records.oneTimePrekeys())
            for signed in try records.signedPrekeys() { prekeys.signed[signed.id] = signed.privateKey }
            let now = Self.now()
            var opened: OpenedEnvelope
            do throws(EndToEndError) {
                opened = try cipher.open(delivery.envelope, authenticatedSender: delivery.sender, session: session,
                                         prekeys: prekeys, knownIdentity: contact?.identity, now: now)
                if opened.beganSession, let session { try? records.archiveSession(session) }
            } catch {
                // Both sides may have begun a session at once: a message on an earlier one still
                // opens, and that session becomes the current one again.
                var recovered: OpenedEnvelope?
                if error != .duplicate, !Self.isIdentityChange(error), let archived = try? records.archivedSessions(with: delivery.sender) {
                    for (key, earlier) in archived {
                        guard let opened = try? cipher.open(delivery.envelope, authenticatedSender: delivery.sender, session: earlier,
                                                            prekeys: PrekeyPrivateKeys(), knownIdentity: contact?.identity, now: now)
                        else { continue }
                        try? records.deleteArchivedSession(key: key)
                        if let session { try? records.archiveSession(session) }
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
                        return .duplicate(messageID: id, from: delivery.sender, name: contact?.name)
                    case .identityChanged:
                        // Left on the server (not seen, not acknowledged) until the user trusts the key.
                        let presented = (try? SealedEnvelope(bytes: delivery.envelope))?.prekeyPart?.senderIdentity
                        if var contact, let presented, contact.identity != presented {
                            contact.changedIdentity = presented
                            try records.saveContact(contact)
                        }
                        return .keyChanged(messageID: id, from: delivery.sender, name: contact?.name)
                    default:
                        try records.markSeen(messageID: id, at: now)
                        return .failed(messageID: id, from: delivery.sender, name: contact?.name, reason: error.description)
                    }
                }
            }
            try records.saveSession(opened.session)
            if let used = opened.usedOneTimePrekeyID { try records.deleteOneTimePrekey(id: used) }
            if contact == nil {
                try records.saveContact(SecureContact(account: delivery.sender, name: nil, identity: opened.session.remoteIdentity))
            }
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
                return .fileRejected(messageID: id, from: delivery.sender, name: contact?.name, time: delivery.serverTime,
                                     fileName: pointer.fileName, reason: rejection)
            }
            if case .attachment(let pointer) = opened.content, let savedPath {
                return .file(messageID: id, from: delivery.sender, name: contact?.name, time: delivery.serverTime, fileName: pointer.fileName,
                             path: savedPath, size: Self.fileSize(savedPath))
            }
            return .message(messageID: id, from: delivery.sender, name: contact?.name, time: delivery.serverTime, content: opened.content)
        }
        if case .keyChanged = receipt { return receipt }
        if ProcessInfo.processInfo.environment["SEALPOST_TEST_DIE_BEFORE_ACK"] != nil {
            kill(getpid(), SIGKILL)
        }
        // Kept (or known already): the partial file's other name is the saved file. A crash
        // before this leaves it to `sweepPartialDownloads`.
        if let partial { unlink(partial) }
        _ = try await connection.acknowledge([delivery.messageID])
        switch receipt {
        case .message(let id, _, _, _, _), .file(let id, _, _, _, _, _, _), .fileRejected(let id, _, _, _, _, _):
            try await store.write { try $0.markShown(messageIDs: [id]) }
        default:
            break
        }
        if let attachment, let id = AttachmentID(bytes: attachment.id) {
            // The server may delete it now; failing that, its TTL does.
            try? await connection.finishAttachment(id)
        }
        return receipt
    }

    /// The store counter of a file's failed checks, per message: deleted once the message is
    /// taken or given up.
    static func fileAttemptsCounter(_ messageID: UInt64) -> String { "file_attempts_\(messageID)" }

    /// Deletes the partial downloads left by a crash after their message was kept: those
    /// linked under a name the history holds as a received file. The others are downloads to
    /// resume, or files saved before a crash and not yet kept (their message comes again).
    func sweepPartialDownloads() async throws {
        let folder = downloads
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where name.hasPrefix(".partial-") {
            let partial = (folder as NSString).appendingPathComponent(name)
            guard let saved = Self.otherName(of: partial, in: folder) else { continue }
            if try await store.read({ try $0.hasReceivedFile(at: saved) }) { unlink(partial) }
        }
    }

    /// The attachment a delivery carries, opened without keeping anything (the transaction
    /// opens it again); nil for another content, one seen already, or one that does not open.
    private func peekAttachment(_ delivery: IncomingEnvelope) async throws -> AttachmentPointer? {
        let cipher = self.cipher
        return try await store.read { records in
            if try records.isSeen(messageID: delivery.messageID) { return nil }
            let contact = try records.contact(id: delivery.sender)
            var prekeys = PrekeyPrivateKeys(oneTime: try records.oneTimePrekeys())
            for signed in try records.signedPrekeys() { prekeys.signed[signed.id] = signed.privateKey }
            guard let opened = try? cipher.open(delivery.envelope, authenticatedSender: delivery.sender,
                                                session: try records.session(with: delivery.sender), prekeys: prekeys,
                                                knownIdentity: contact?.identity, now: Self.now()),
                  case .attachment(let pointer) = opened.content else { return nil }
            return pointer
        }
    }

    static func fileSize(_ path: String) -> UInt64 {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.uint64Value ?? 0
    }

    /// The received messages kept but never shown (a crash came after their commit), marked
    /// shown now: each is shown once.
    func unshown() async throws -> [SecureReceipt] {
        try await store.write { records in
            let entries = try records.unshownHistory()
            try records.markShown(messageIDs: entries.compactMap(\.entry.messageID))
            return try entries.map { _, entry in
                if entry.kind == "file-failed" {
                    let (fileName, reason) = Self.splitFailure(entry.body)
                    return .fileRejected(messageID: entry.messageID ?? 0, from: entry.peer, name: try records.contact(id: entry.peer)?.name,
                                         time: entry.time, fileName: fileName, reason: reason)
                }
                if entry.kind == "file" {
                    return .file(messageID: entry.messageID ?? 0, from: entry.peer, name: try records.contact(id: entry.peer)?.name, time: entry.time,
                                 fileName: (entry.body as NSString).lastPathComponent, path: entry.body, size: Self.fileSize(entry.body))
                }
                let content: MessageContent = entry.kind == "text" ? .text(entry.body) : .unsupported(type: 0, body: [])
                return .message(messageID: entry.messageID ?? 0, from: entry.peer, name: try records.contact(id: entry.peer)?.name,
                                time: entry.time, content: content)
            }
        }
    }

    /// A `file-failed` history body, "NAME: REASON", split in two.
    static func splitFailure(_ body: String) -> (fileName: String, reason: String) {
        guard let colon = body.range(of: ": ") else { return (body, "") }
        return (String(body[..<colon.lowerBound]), String(body[colon.upperBound...]))
    }

    static func isIdentityChange(_ error: EndToEndError) -> Bool {
        if case .identityChanged = error { return true }
        return false
    }

    /// Names the sender of a receipt when the contact has none yet, from the server's directory.
    func named(_ receipt: SecureReceipt, on connection: any AccountServerConnection) async -> SecureReceipt {
        switch receipt {
        case .message(let id, let from, nil, let time, let content):
            guard let name = await learnName(of: from, on: connection) else { return receipt }
            return .message(messageID: id, from: from, name: name, time: time, content: content)
        case .file(let id, let from, nil, let time, let fileName, let path, let size):
            guard let name = await learnName(of: from, on: connection) else { return receipt }
            return .file(messageID: id, from: from, name: name, time: time, fileName: fileName, path: path, size: size)
        default:
            return receipt
        }
    }

    /// Finds `account`'s name in the directory (LIST pages) and keeps it on the contact.
    private func learnName(of account: AccountID, on connection: any AccountServerConnection) async -> String? {
        var after: AccountName?
        for _ in 0..<100 {
            guard let page = try? await connection.list(after: after, limit: 100) else { return nil }
            if let entry = page.entries.first(where: { $0.account == account }) {
                let name = entry.name.value
                try? await store.write { records in
                    guard var contact = try records.contact(id: account) else { return }
                    contact.name = name
                    try records.saveContact(contact)
                }
                return name
            }
            guard page.more, let last = page.entries.last else { return nil }
            after = last.name
        }
        return nil
    }

    /// Receives what is pushed. With `follow`, runs until the connection ends. Without it
    /// (`inbox`), returns once the server said NOTICE `caughtUp` (§6.3) and every delivery
    /// before it was taken; a server that never says it (an older one) is left after `quiet`
    /// without news. Either way the session reconnects after a drop (a file download resumes);
    /// without `follow` it gives up after `transferAttempts` failed attempts in a row.
    /// `$SEALPOST_TEST_INBOX_QUIET_MS` replaces `quiet` (tests only).
    func receiveAll(follow: Bool, quiet: Duration = .seconds(3), report: @escaping @Sendable (SecureReceipt) -> Void) async throws {
        let quiet = ProcessInfo.processInfo.environment["SEALPOST_TEST_INBOX_QUIET_MS"].flatMap(Int64.init).map(Duration.milliseconds) ?? quiet
        let connection = try await connected(reconnecting: true, giveUpAfter: follow ? nil : Self.transferAttempts)
        try await sweepPartialDownloads()
        for receipt in try await unshown() { report(await named(receipt, on: connection)) }
        let activity = ReceiveActivity()
        let client = self
        let consumer = Task {
            defer { activity.finished.withLock { $0 = true } }
            for try await event in connection.events {
                switch event {
                case .delivery(let delivery):
                    activity.busy.withLock { $0 = true }
                    let receipt = await client.named(try await client.receive(delivery, on: connection), on: connection)
                    report(receipt)
                    activity.busy.withLock { $0 = false }
                case .prekeysLow:
                    // The notice may predate the sign-in's own top-up: count again first.
                    do {
                        try await client.topUpPrekeys(left: try await connection.countPrekeys(), on: connection)
                    } catch {
                        StandardStreams.error("sealpost: warning: could not upload one-time prekeys: \(error)\n")
                    }
                case .caughtUp:
                    // Events are taken in order: every delivery before it has been taken.
                    activity.caughtUp.withLock { $0 = true }
                case .reconnecting:
                    activity.reconnecting.withLock { $0 = true }
                case .reconnected:
                    activity.reconnecting.withLock { $0 = false }
                }
                activity.last.withLock { $0 = .now }
            }
        }
        if follow {
            try await consumer.value
            return
        }
        activity.last.withLock { $0 = .now }
        while true {
            try await Task.sleep(for: .milliseconds(20))
            if activity.caughtUp.withLock({ $0 }) { break }
            let idle = ContinuousClock.now - activity.last.withLock { $0 }
            if idle >= quiet, !activity.busy.withLock({ $0 }), !activity.reconnecting.withLock({ $0 }) { break }
            // The consumer ended: the connection gave up (its error is thrown below).
            if activity.finished.withLock({ $0 }) { break }
        }
        consumer.cancel()
        await close()
        if case .failure(let error) = await consumer.result, !(error is CancellationError) {
            if let error = error as? AccountServerError, error == .closed { return }
            throw error
        }
    }
}

/// What the inbox has seen: when it last saw something, whether a delivery is being taken,
/// whether the server said it is caught up.
private final class ReceiveActivity: Sendable {
    let last = Mutex(ContinuousClock.now)
    let busy = Mutex(false)
    /// NOTICE `caughtUp` was taken.
    let caughtUp = Mutex(false)
    /// The connection dropped and is being opened again.
    let reconnecting = Mutex(false)
    /// The events ended (the connection gave up or was closed).
    let finished = Mutex(false)
}
