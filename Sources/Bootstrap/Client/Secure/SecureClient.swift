import Adapters
import Application
import Domain
import Foundation
import Synchronization

/// A v3 home's client: the state in `<home>/sealpost-v3.db`, the identity's keys, and its
/// authenticated session with the v3 server, opened on first need.
///
/// Each delivery is taken in one transaction (decrypt, advance the ratchet, keep it in the
/// history, mark its id seen) and acknowledged only after that commit: a crash between any two
/// steps loses nothing and shows nothing twice.
final class SecureClient: Sendable {
    /// Fewer one-time prekeys than this on the server: upload up to `prekeyTarget`.
    static let prekeyLowWater = 10
    static let prekeyTarget = 100
    /// A signed prekey is replaced after 2 days; replaced ones are kept 30 days.
    static let signedPrekeyLifetime: UInt64 = 2 * 86_400_000
    static let replacedPrekeyKept: UInt64 = 30 * 86_400_000

    let home: String
    let store: any SecureClientStore
    let identity: SecureIdentityRecord
    let server: ServerAddress
    let verification: ServerVerification
    let cipher: EndToEndCipher
    let crypto = OpenSSLEndToEndCrypto()
    /// The session, once opened.
    private let session = Mutex<(any AccountServerConnection)?>(nil)

    private init(home: String, store: any SecureClientStore, identity: SecureIdentityRecord, server: ServerAddress,
                 verification: ServerVerification) throws {
        self.home = home
        self.store = store
        self.identity = identity
        self.server = server
        self.verification = verification
        let local = try LocalIdentity(account: identity.account, signingSeed: identity.identitySeed,
                                      agreementPrivateKey: identity.agreementPrivateKey, crypto: OpenSSLEndToEndCrypto())
        cipher = EndToEndCipher(identity: local, crypto: OpenSSLEndToEndCrypto())
    }

    static func databasePath(home: String) -> String {
        (home as NSString).appendingPathComponent(SQLiteSecureClientStore.fileName)
    }

    /// Whether `home` is a v3 home: it holds the v3 database and no original me.info.
    static func isSecureHome(_ home: String) -> Bool {
        let manager = FileManager.default
        return manager.fileExists(atPath: databasePath(home: home))
            && !manager.fileExists(atPath: (home as NSString).appendingPathComponent("me.info"))
    }

    static func now() -> UInt64 { UInt64(Date().timeIntervalSince1970 * 1000) }

    /// The v3 server's default port.
    static let defaultPort = 1235

    /// The v3 server for a new registration: `--server` as given; else the host of
    /// `$SEALPOST_SERVER` or server.info with port 1235; else 127.0.0.1:1235.
    static func registrationServer(_ option: String?, home: String) throws -> ServerAddress {
        if let option {
            guard let address = ServerAddress(parsing: option) else { throw SecureClientFailure("--server must be HOST:PORT, not \"\(option)\"") }
            return address
        }
        let named = try ClientEnvironment.namedServer(nil, home: home, environment: ProcessInfo.processInfo.environment)
        return ServerAddress(host: named?.host ?? "127.0.0.1", port: defaultPort)
    }

    // MARK: Opening

    /// Registers `name` on the v3 server and makes `home` a v3 home: an identity, a signed
    /// prekey and 100 one-time prekeys, kept before the registration is sent.
    static func register(home: String, name: String, server: ServerAddress, verification: ServerVerification) async throws -> SecureIdentityRecord {
        let accountName: AccountName
        do { accountName = try AccountName(name) } catch { throw SecureClientFailure("invalid name \"\(name)\": \(error)") }
        try ClientHome.create(home)
        let path = databasePath(home: home)
        if FileManager.default.fileExists(atPath: path) {
            let existing = try await SQLiteSecureClientStore.open(path: path).read { try $0.identity() }
            if let existing { throw SecureClientFailure("this home is registered already as \(existing.name) (\(existing.account))") }
        }
        let keys = try AccountKeys.generate(signedPrekeyID: 1, oneTimePrekeyIDs: 1...UInt32(prekeyTarget))
        let connection = try await SecureAccountConnection.connect(host: server.host, port: server.port, verification: verification)
        let account: AccountID
        do {
            account = try await connection.register(
                name: accountName, signer: keys, signedPrekey: try keys.publicSignedPrekey(), oneTimePrekeys: try keys.publicOneTimePrekeys())
        } catch {
            await connection.close()
            throw error
        }
        // The keys are kept before anything else happens; the server holds the account already.
        let store = try SQLiteSecureClientStore.open(path: path)
        let record = SecureIdentityRecord(account: account, name: name, server: server.description, identitySeed: keys.identitySeed,
                                          agreementPrivateKey: keys.identityAgreementPrivateKey)
        let signed = keys.signedPrekey
        let oneTime = keys.oneTimePrekeys.map { (id: $0.id, privateKey: $0.privateKey) }
        let now = now()
        try await store.write { records in
            try records.saveIdentity(record)
            try records.addSignedPrekey(id: signed.id, privateKey: signed.privateKey, now: now)
            try records.addOneTimePrekeys(oneTime)
            try records.setCounter("next_signed_prekey", to: 2)
            try records.setCounter("next_one_time_prekey", to: UInt64(prekeyTarget) + 1)
        }
        await connection.close()
        return record
    }

    /// Opens a v3 home's client; `--server` replaces the server kept with the identity.
    static func open(home: String, server option: String?, verification: ServerVerification) async throws -> SecureClient {
        let store = try SQLiteSecureClientStore.open(path: databasePath(home: home))
        guard let identity = try await store.read({ try $0.identity() }) else {
            throw SecureClientFailure("this home has no v3 identity: run `sealpost register NAME` first")
        }
        let text = option ?? identity.server
        guard let server = ServerAddress(parsing: text) else { throw SecureClientFailure("the server must be HOST:PORT, not \"\(text)\"") }
        return try SecureClient(home: home, store: store, identity: identity, server: server, verification: verification)
    }

    // MARK: The session

    /// The authenticated session, opened on first use: it authenticates, replaces the signed
    /// prekey when due, and tops the one-time prekeys up.
    func connected(reconnecting: Bool = false) async throws -> any AccountServerConnection {
        if let open = session.withLock({ $0 }) { return open }
        let opened: any AccountServerConnection
        if reconnecting {
            opened = try await ReconnectingAccountConnection.connect(host: server.host, port: server.port, verification: verification)
        } else {
            opened = try await SecureAccountConnection.connect(host: server.host, port: server.port, verification: verification)
        }
        session.withLock { $0 = opened }
        let left = try await opened.authenticate(account: identity.account, signer: try signer())
        // Key upkeep never stops the command: another process on this home may be at it too.
        do {
            try await rotateSignedPrekeyIfDue(on: opened)
            try await topUpPrekeys(left: left, on: opened)
        } catch let error as AccountServerError where error.code != nil {
            StandardStreams.error("sealpost: warning: prekey upkeep failed: \(Self.words(error))\n")
        }
        return opened
    }

    func close() async {
        let open = session.withLock { value in
            defer { value = nil }
            return value
        }
        await open?.close()
    }

    /// The identity's signer (its prekeys are not needed to sign).
    private func signer() throws -> AccountKeys {
        try AccountKeys(identitySeed: identity.identitySeed, identityAgreementPrivateKey: identity.agreementPrivateKey,
                        signedPrekey: .generate(id: 0), oneTimePrekeys: [])
    }

    /// Uploads new one-time prekeys (kept here first) when fewer than 10 are left, up to 100.
    func topUpPrekeys(left: Int, on connection: any AccountServerConnection) async throws {
        guard left < Self.prekeyLowWater else { return }
        let count = Self.prekeyTarget - left
        var keys = try signer()
        let ids: [UInt32] = try await store.write { records in
            let first = max(try records.counter("next_one_time_prekey"), 1)
            try records.setCounter("next_one_time_prekey", to: first + UInt64(count))
            return (0..<count).map { UInt32(truncatingIfNeeded: first + UInt64($0)) }
        }
        let uploaded = try keys.addOneTimePrekeys(ids: ids)
        let privates = keys.oneTimePrekeys.map { (id: $0.id, privateKey: $0.privateKey) }
        try await store.write { try $0.addOneTimePrekeys(privates) }
        _ = try await connection.uploadPrekeys(uploaded)
    }

    /// Replaces the signed prekey once it is 2 days old; forgets those replaced 30 days ago.
    /// `$SEALPOST_TEST_CLOCK_OFFSET_MS` moves this client's clock (tests only).
    func rotateSignedPrekeyIfDue(on connection: any AccountServerConnection) async throws {
        let offset = ProcessInfo.processInfo.environment["SEALPOST_TEST_CLOCK_OFFSET_MS"].flatMap(UInt64.init) ?? 0
        let now = Self.now() + offset
        let current = try await store.read { try $0.signedPrekeys().first { $0.replacedAt == nil } }
        if let current, now < current.createdAt + Self.signedPrekeyLifetime { return }
        let id: UInt32 = try await store.write { records in
            let next = max(try records.counter("next_signed_prekey"), 2)
            try records.setCounter("next_signed_prekey", to: next + 1)
            return UInt32(truncatingIfNeeded: next)
        }
        var keys = try signer()
        let prekey = try keys.replaceSignedPrekey(id: id)
        let privateKey = keys.signedPrekey.privateKey
        try await store.write { records in
            try records.addSignedPrekey(id: id, privateKey: privateKey, now: now)
            if now > Self.replacedPrekeyKept { try records.deleteSignedPrekeys(replacedBefore: now - Self.replacedPrekeyKept) }
        }
        try await connection.replaceSignedPrekey(prekey)
    }

    // MARK: Contacts and trust

    /// The contact named `name`: kept here, else looked up on the server and pinned (first use).
    func contact(named name: String) async throws -> SecureContact {
        if let known = try await store.read({ try $0.contact(named: name) }) { return known }
        let accountName: AccountName
        do { accountName = try AccountName(name) } catch { throw SecureClientFailure("invalid name \"\(name)\": \(error)") }
        let account: Account
        do {
            account = try await connected().lookup(name: accountName)
        } catch let error as AccountServerError where error.code == .noSuchAccount {
            throw SecureClientFailure("no account named \(name) on \(server)")
        }
        guard account.id != identity.account else { throw SecureClientFailure("\(name) is this account") }
        return try await store.write { records in
            if var existing = try records.contact(id: account.id) {
                existing.name = name
                if existing.identity != account.identity, existing.changedIdentity == nil { existing.changedIdentity = account.identity }
                try records.saveContact(existing)
                return existing
            }
            let contact = SecureContact(account: account.id, name: name, identity: account.identity)
            try records.saveContact(contact)
            return contact
        }
    }

    /// The contact kept for `name`, or a failure in words.
    func knownContact(_ name: String) async throws -> SecureContact {
        guard let contact = try await store.read({ try $0.contact(named: name) }) else {
            throw SecureClientFailure("no contact named \(name): send it a message or receive one first")
        }
        return contact
    }

    /// The 60-digit safety number with `identity`, in 12 groups of 5.
    func safetyNumber(with account: AccountID, identity remote: IdentityKeys) throws -> String {
        let digits = try SafetyNumber.compute(local: (cipher.identity.publicKeys.signingKey, identity.account),
                                              remote: (remote.signingKey, account), crypto: crypto)
        return Self.grouped(digits)
    }

    static func grouped(_ digits: String) -> String {
        var groups: [String] = []
        var rest = Substring(digits)
        while !rest.isEmpty {
            groups.append(String(rest.prefix(5)))
            rest = rest.dropFirst(5)
        }
        return groups.joined(separator: " ")
    }

    /// The failure that stops a send to a contact whose key changed.
    func keyChangedFailure(_ contact: SecureContact) -> SecureClientFailure {
        let name = contact.name ?? contact.account.description
        let old = (try? safetyNumber(with: contact.account, identity: contact.identity)) ?? "?"
        let new = contact.changedIdentity.flatMap { try? safetyNumber(with: contact.account, identity: $0) } ?? "?"
        if contact.verified {
            return SecureClientFailure("key changed: the VERIFIED identity key of \(name) changed; nothing was sent. Old safety number \(old), new \(new). Verify the new number with \(name) in person, then run `sealpost verify \(name) NUMBER` or `sealpost trust \(name) --i-have-verified-the-new-number`")
        }
        return SecureClientFailure("key changed: the identity key of \(name) changed; nothing was sent. Old safety number \(old), new \(new). Compare it with \(name), then run `sealpost trust \(name)`")
    }

    /// Accepts the changed key of `name`: it becomes the pinned one, unverified, and the old
    /// session is retired (archived: what was sent on it still opens).
    func trust(_ name: String, verifiedNewNumber: Bool) async throws -> SecureContact {
        let contact = try await knownContact(name)
        guard let changed = contact.changedIdentity else { throw SecureClientFailure("the key of \(name) has not changed: nothing to trust") }
        if contact.verified, !verifiedNewNumber {
            throw SecureClientFailure("\(name) was verified and its key changed: verify the new number (`sealpost verify \(name) NUMBER`) or run `sealpost trust \(name) --i-have-verified-the-new-number`")
        }
        var updated = contact
        updated.identity = changed
        updated.changedIdentity = nil
        updated.verified = verifiedNewNumber && contact.verified
        let saved = updated
        try await store.write { records in
            try records.saveContact(saved)
            try Self.retireSession(with: saved.account, in: records)
        }
        return saved
    }

    /// Ends the current session with `peer` once its new key is trusted: the next message
    /// begins a new one, and messages already sent on the old one still open (it is archived).
    static func retireSession(with peer: AccountID, in records: any SecureClientRecords) throws {
        if let session = try records.session(with: peer) { try records.archiveSession(session) }
        try records.deleteSession(with: peer)
    }

    /// Marks `name` verified when `number` is its safety number (spaces ignored). When its key
    /// changed, a number that matches the new key trusts it and verifies it.
    func verify(_ name: String, number: String) async throws -> SecureContact {
        let contact = try await knownContact(name)
        let given = number.filter(\.isNumber)
        var updated = contact
        if let changed = contact.changedIdentity, try safetyNumber(with: contact.account, identity: changed).filter(\.isNumber) == given {
            updated.identity = changed
            updated.changedIdentity = nil
            updated.verified = true
            let saved = updated
            try await store.write { records in
                try records.saveContact(saved)
                try Self.retireSession(with: saved.account, in: records)
            }
            return saved
        }
        guard try safetyNumber(with: contact.account, identity: contact.identity).filter(\.isNumber) == given else {
            throw SecureClientFailure("the safety number does not match the one of \(name): not verified")
        }
        if contact.changedIdentity != nil { throw keyChangedFailure(contact) }
        updated.verified = true
        let saved = updated
        try await store.write { try $0.saveContact(saved) }
        return saved
    }

    // MARK: Sending

    /// Seals `text` for `name` and sends it: X3DH first when there is no session. Refused
    /// when the contact's key changed.
    func send(text: String, to name: String) async throws -> SentEnvelope {
        guard text.utf8.count <= MessageContent.maximumTextBytes else {
            throw SecureClientFailure("the text is \(text.utf8.count) bytes; at most \(MessageContent.maximumTextBytes)")
        }
        return try await send(.text(text), to: name, kind: "text", body: text)
    }

    /// Seals `content` for `name`, sends it and keeps it in the history as `kind` and `body`.
    func send(_ content: MessageContent, to name: String, kind: String, body: String) async throws -> SentEnvelope {
        var contact = try await contact(named: name)
        if contact.changedIdentity != nil { throw keyChangedFailure(contact) }
        let connection = try await connected()
        let peer = contact.account
        var bundle: PrekeyBundle?
        if try await store.read({ try $0.session(with: peer) }) == nil {
            let fetched = try await connection.fetchBundle(of: peer)
            if fetched.identity != contact.identity {
                contact.changedIdentity = fetched.identity
                let changed = contact
                try await store.write { try $0.saveContact(changed) }
                throw keyChangedFailure(changed)
            }
            bundle = fetched
        }
        let cipher = self.cipher
        let pinned = contact.identity
        let fetched = bundle
        let envelope: [UInt8] = try await store.write { records in
            var session: EndToEndSession
            if let existing = try records.session(with: peer) {
                session = existing
            } else if let fetched {
                session = try cipher.startSession(with: fetched, knownIdentity: pinned)
            } else {
                throw SecureClientFailure("the session with \(name) was dropped meanwhile: send again")
            }
            let sealed = try cipher.seal(content, session: &session)
            try records.saveSession(session)
            return sealed
        }
        let sent: SentEnvelope
        do {
            sent = try await connection.send(envelope, to: peer)
        } catch let error as AccountServerError {
            throw SecureClientFailure(Self.words(error))
        }
        try await store.write { records in
            try records.appendHistory(SecureHistoryEntry(peer: peer, direction: .sent, time: sent.serverTime, kind: kind, body: body,
                                                         messageID: sent.messageID))
        }
        return sent
    }

    /// An `AccountServerError` in the words the CLI uses.
    static func words(_ error: AccountServerError) -> String {
        switch error {
        case .refused(.rateLimited, let retry, _):
            return "rate-limited" + (retry.map { ", retry in \($0.components.seconds) s" } ?? "")
        case .refused(.inboxFull, let retry, _):
            return "inbox full: the recipient's inbox is full" + (retry.map { ", retry in \($0.components.seconds) s" } ?? "")
        case .untrustedServer(let server, let reason):
            return "server not trusted: \(server): \(reason)"
        default:
            return error.description
        }
    }

    // MARK: Receiving

    /// Takes one delivery: opens it, and in one transaction keeps the new session, deletes the
    /// one-time prekey it used, keeps it in the history and marks its id seen; then
    /// acknowledges it. `$SEALPOST_TEST_DIE_BEFORE_ACK` kills the process between the commit
    /// and the ACK (the crash-safety test).
    ///
    /// A file is downloaded, checked and saved before that transaction; when that fails,
    /// nothing is kept and nothing acknowledged, so the message comes again.
    func receive(_ delivery: IncomingEnvelope, on connection: any AccountServerConnection) async throws -> SecureReceipt {
        let cipher = self.cipher
        var saved: String?
        var attachment: AttachmentPointer?
        if let pointer = try await peekAttachment(delivery) {
            do {
                saved = try await download(pointer, on: connection, progress: TerminalProgress.makeIfTerminal())
                attachment = pointer
            } catch {
                let name = try? await store.read { try $0.contact(id: delivery.sender)?.name }
                let reason = (error as? AccountServerError).map(Self.words) ?? "\(error)"
                return .fileFailed(messageID: delivery.messageID, from: delivery.sender, name: name ?? nil, reason: reason)
            }
        }
        let savedPath = saved
        let receipt: SecureReceipt = try await store.write { records in
            let id = delivery.messageID
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
            case .attachment(let pointer): ("file", savedPath ?? "\(pointer.fileName) (an attachment that was not downloaded)")
            case .unsupported(let type, _): ("unsupported", "content of type \(type)")
            }
            try records.appendHistory(SecureHistoryEntry(peer: delivery.sender, direction: .received, time: delivery.serverTime,
                                                         kind: kind, body: body, messageID: id))
            try records.markSeen(messageID: id, at: now)
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
        _ = try await connection.acknowledge([delivery.messageID])
        switch receipt {
        case .message(let id, _, _, _, _), .file(let id, _, _, _, _, _, _):
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

    /// Receives what is pushed. Without `follow`, returns once nothing has arrived for
    /// `quiet` (after the session's first exchange); with it, runs until the connection ends.
    func receiveAll(follow: Bool, quiet: Duration = .milliseconds(800), report: @escaping @Sendable (SecureReceipt) -> Void) async throws {
        let connection = try await connected(reconnecting: follow)
        for receipt in try await unshown() { report(await named(receipt, on: connection)) }
        let activity = ReceiveActivity()
        let client = self
        let consumer = Task {
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
                case .reconnecting, .reconnected:
                    break
                }
                activity.last.withLock { $0 = .now }
            }
        }
        if follow {
            try await consumer.value
            return
        }
        try await connection.ping()
        activity.last.withLock { $0 = .now }
        while true {
            try await Task.sleep(for: .milliseconds(50))
            let idle = ContinuousClock.now - activity.last.withLock { $0 }
            if idle >= quiet, !activity.busy.withLock({ $0 }) { break }
            if consumer.isCancelled { break }
        }
        consumer.cancel()
        await close()
        if case .failure(let error) = await consumer.result, !(error is CancellationError) {
            if let error = error as? AccountServerError, error == .closed { return }
            throw error
        }
    }

    // MARK: Reading

    func contacts() async throws -> [SecureContact] {
        try await store.read { try $0.contacts() }
    }

    func history(with name: String) async throws -> [SecureHistoryEntry] {
        let contact = try await contact(named: name)
        return try await store.read { try $0.history(with: contact.account) }
    }

    /// Every account in the server's directory, in name order.
    func directory() async throws -> [AccountDirectoryPage.Entry] {
        let connection = try await connected()
        var entries: [AccountDirectoryPage.Entry] = []
        var after: AccountName?
        while true {
            let page = try await connection.list(after: after, limit: 100)
            entries += page.entries
            guard page.more, let last = page.entries.last else { return entries }
            after = last.name
        }
    }
}

/// When the inbox last saw something, and whether a delivery is being taken.
private final class ReceiveActivity: Sendable {
    let last = Mutex(ContinuousClock.now)
    let busy = Mutex(false)
}
