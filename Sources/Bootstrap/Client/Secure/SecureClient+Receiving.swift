import Adapters
import Application
import Domain
import Foundation
import Synchronization

extension SecureClient {
    // MARK: Receiving

    /// A delivery taken: what to report, and what the server is told once it is committed.
    struct TakenDelivery: Sendable {
        let receipt: SecureReceipt
        /// Whether to acknowledge it (false for a file not kept and for a changed key: it stays
        /// on the server).
        let acknowledge: Bool
        /// The attachment the server may delete once this is acknowledged.
        let attachment: AttachmentID?
        /// The partial download whose other name is the kept file: deleted just before the
        /// ACK. A crash before that leaves it to `sweepPartialDownloads`.
        var partial: String? = nil

        /// The message id to mark shown once it is acknowledged, for a receipt that is shown.
        var shownID: UInt64? {
            switch receipt {
            case .message(let id, _, _, _, _), .file(let id, _, _, _, _, _, _), .fileRejected(let id, _, _, _, _, _): id
            default: nil
            }
        }
    }

    /// Takes one delivery: opens it, and in one transaction keeps the new session, deletes the
    /// one-time prekey it used, keeps it in the history and marks its id seen. It is not yet
    /// acknowledged: that is the caller's, after this returns (`AcknowledgementPipeline`), and
    /// `$SEALPOST_TEST_DIE_BEFORE_ACK` kills the process there; `$SEALPOST_TEST_DIE_BEFORE_COMMIT`
    /// kills it between a file's saving and the commit (the crash-safety tests).
    ///
    /// The envelope is opened once, in that transaction. Only when it holds a file is nothing
    /// kept then: the file is downloaded, checked and saved, and a second transaction opens it
    /// again and keeps it. When the download fails, nothing is kept and nothing acknowledged,
    /// so the message comes again (and the download resumes). A file that fails its checks
    /// (`AttachmentRejection`) `fileCheckAttempts` times is given up: the message is taken as
    /// above, kept in the history as `file-failed` with the reason, and acknowledged.
    func take(_ delivery: IncomingEnvelope, on connection: any AccountServerConnection) async throws -> TakenDelivery {
        let cipher = self.cipher
        var file: FetchedFile?
        while true {
            let prepared = file
            let outcome: KeepOutcome = try await store.write { records in
                let outcome = try Self.keep(delivery, in: records, cipher: cipher, file: prepared)
                // Taken or given up here, or known already: its file's attempts are done.
                if case .kept = outcome { try records.deleteCounter(Self.fileAttemptsCounter(delivery.messageID)) }
                return outcome
            }
            let receipt: SecureReceipt
            switch outcome {
            case .kept(let kept):
                receipt = kept
            case .needsFile(let pointer):
                guard file == nil else { throw SecureClientFailure("message \(delivery.messageID) asked for its file twice") }
                switch try await fetch(pointer, of: delivery, on: connection) {
                case .fetched(let fetched):
                    file = fetched
                    if fetched.savedPath != nil, ProcessInfo.processInfo.environment["SEALPOST_TEST_DIE_BEFORE_COMMIT"] != nil {
                        kill(getpid(), SIGKILL)
                    }
                    continue
                case .failed(let failed):
                    return TakenDelivery(receipt: failed, acknowledge: false, attachment: nil)
                }
            }
            if case .keyChanged = receipt { return TakenDelivery(receipt: receipt, acknowledge: false, attachment: nil) }
            // Kept (or known already): the partial file's other name is the saved file.
            return TakenDelivery(receipt: receipt, acknowledge: true, attachment: file.flatMap { AttachmentID(bytes: $0.pointer.id) },
                                 partial: file?.partialPath)
        }
    }

    /// A delivery's file, downloaded, checked and saved (or given up after its checks failed).
    struct FetchedFile: Sendable {
        let pointer: AttachmentPointer
        var savedPath: String?
        var partialPath: String?
        /// Why the file was given up, when it was.
        var rejection: String?
    }

    private enum FetchOutcome {
        case fetched(FetchedFile)
        case failed(SecureReceipt)
    }

    /// Downloads `pointer`'s file; a failure is a `fileFailed` receipt, or after
    /// `fileCheckAttempts` failed checks a file given up.
    private func fetch(_ pointer: AttachmentPointer, of delivery: IncomingEnvelope,
                       on connection: any AccountServerConnection) async throws -> FetchOutcome {
        do {
            let (saved, partial) = try await download(pointer, on: connection, progress: TerminalProgress.makeIfTerminal())
            return .fetched(FetchedFile(pointer: pointer, savedPath: saved, partialPath: partial))
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
                    return .fetched(FetchedFile(pointer: pointer, rejection: "\(reason) (\(attempts) attempts)"))
                }
                reason += " (attempt \(attempts) of \(Self.fileCheckAttempts))"
            }
            return .failed(.fileFailed(messageID: delivery.messageID, from: delivery.sender, name: name ?? nil, reason: reason))
        }
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
        let settled: @Sendable (SecureReceipt) -> Void = { receipt in
            report(receipt)
            activity.unsettled.withLock { $0 -= 1 }
            activity.last.withLock { $0 = .now }
        }
        let consumer = Task {
            defer { activity.finished.withLock { $0 = true } }
            try await AcknowledgementPipeline.run(client: client, connection: connection, report: settled) { pipeline in
                for try await event in connection.events {
                    switch event {
                    case .delivery(let delivery):
                        activity.busy.withLock { $0 = true }
                        let taken = try await client.take(delivery, on: connection)
                        activity.unsettled.withLock { $0 += 1 }
                        try pipeline.enqueue(taken)
                        activity.busy.withLock { $0 = false }
                    case .prekeysLow:
                        // The notice may predate the sign-in's own top-up: count again first.
                        do {
                            try await client.topUpPrekeys(left: try await connection.countPrekeys(), on: connection)
                        } catch {
                            StandardStreams.error("sealpost: warning: could not upload one-time prekeys: \(error)\n")
                        }
                    case .caughtUp:
                        // Events are taken in order: every delivery before it has been taken;
                        // once acknowledged and reported, the inbox is done.
                        try await pipeline.flush()
                        activity.caughtUp.withLock { $0 = true }
                    case .reconnecting:
                        activity.reconnecting.withLock { $0 = true }
                    case .reconnected:
                        activity.reconnecting.withLock { $0 = false }
                    }
                    activity.last.withLock { $0 = .now }
                }
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
            if idle >= quiet, !activity.busy.withLock({ $0 }), activity.unsettled.withLock({ $0 }) == 0,
               !activity.reconnecting.withLock({ $0 }) { break }
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

/// What the inbox has seen: when it last saw something, whether a delivery is being taken or
/// waits for its ACK, whether the server said it is caught up.
private final class ReceiveActivity: Sendable {
    let last = Mutex(ContinuousClock.now)
    let busy = Mutex(false)
    /// Deliveries taken and not yet acknowledged and reported.
    let unsettled = Mutex(0)
    /// NOTICE `caughtUp` was taken.
    let caughtUp = Mutex(false)
    /// The connection dropped and is being opened again.
    let reconnecting = Mutex(false)
    /// The events ended (the connection gave up or was closed).
    let finished = Mutex(false)
}
