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
    /// The session, once its connection is made (authenticated or not yet): what `close` ends.
    private let session = Mutex<(any AccountServerConnection)?>(nil)
    /// The one opening of the session that every caller of `connected` waits on: two tasks
    /// asking at once share one session, never open two (the one not kept would go on taking
    /// deliveries that nothing reads). Cleared when an opening fails, so a later call retries.
    private let opening = Mutex<Task<any AccountServerConnection, any Error>?>(nil)

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

    /// Opens a v3 home's client; `--server` replaces the server kept with the identity.
    static func open(home: String, server option: String?, verification: ServerVerification) async throws -> SecureClient {
        let store = try SQLiteSecureClientStore.open(path: databasePath(home: home))
        guard let identity = try await store.read({ try $0.identity() }) else {
            if let pending = try await store.read({ try $0.pendingRegistration() }) {
                throw SecureClientFailure("the registration of \(pending.name) was interrupted: run `sealpost register \(pending.name)` again to complete it")
            }
            throw SecureClientFailure("this home has no v3 identity: run `sealpost register NAME` first")
        }
        let text = option ?? identity.server
        guard let server = ServerAddress(parsing: text) else { throw SecureClientFailure("the server must be HOST:PORT, not \"\(text)\"") }
        return try SecureClient(home: home, store: store, identity: identity, server: server, verification: verification)
    }

    // MARK: The session

    /// The authenticated session, opened on first use: it authenticates, replaces the signed
    /// prekey when due, and tops the one-time prekeys up.
    /// With `reconnecting`, the session outlives dropped connections, giving up after
    /// `giveUpAfter` failed attempts in a row (nil: never).
    func connected(reconnecting: Bool = false, giveUpAfter: Int? = nil) async throws -> any AccountServerConnection {
        let task = opening.withLock { current in
            if let current { return current }
            let made = Task { try await self.open(reconnecting: reconnecting, giveUpAfter: giveUpAfter) }
            current = made
            return made
        }
        do {
            return try await task.value
        } catch {
            opening.withLock { current in
                if current == task { current = nil }
            }
            throw error
        }
    }

    private func open(reconnecting: Bool, giveUpAfter: Int?) async throws -> any AccountServerConnection {
        let opened: any AccountServerConnection
        if reconnecting {
            opened = try await ReconnectingAccountConnection.connect(host: server.host, port: server.port, verification: verification,
                                                                     maxAttempts: giveUpAfter)
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
        try await resendOutbox(on: opened)
        return opened
    }

    func close() async {
        opening.withLock { $0 = nil }
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

    // MARK: Sending

    /// Seals `text` for `name` and sends it: X3DH first when there is no session. Refused
    /// when the contact's key changed.
    func send(text: String, to name: String) async throws -> SentEnvelope {
        guard text.utf8.count <= MessageContent.maximumTextBytes else {
            throw SecureClientFailure("the text is \(text.utf8.count) bytes; at most \(MessageContent.maximumTextBytes)")
        }
        return try await send(.text(text), to: name, kind: "text", body: text)
    }

    /// Seals `content` for `name`, sends it and keeps it in the history as `kind` and `body`;
    /// `alsoKeeping` runs in the transaction that keeps it (a file's upload record deleted).
    func send(_ content: MessageContent, to name: String, kind: String, body: String,
              alsoKeeping: (@Sendable (any SecureClientRecords) throws -> Void)? = nil) async throws -> SentEnvelope {
        var contact = try await contact(named: name)
        if contact.changedIdentity != nil { throw keyChangedFailure(contact) }
        let connection = try await connected()
        let peer = contact.account
        var bundle: PrekeyBundle?
        if try await !store.read({ try $0.hasSession(with: peer) }) {
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
        // The ratchet step and the sealed envelope are kept together, in the outbox, until the
        // server's answer is known (SecureOutboxItem); what `alsoKeeping` records (a file's
        // upload done) is settled with them.
        let (key, item): (Int64, SecureOutboxItem) = try await store.write { records in
            var session: EndToEndSession
            if let existing = try records.session(with: peer) {
                session = existing
            } else if let fetched {
                session = try cipher.startSession(with: fetched, knownIdentity: pinned)
            } else {
                throw SecureClientFailure("the session with \(name) was dropped meanwhile: send again")
            }
            let item = SecureOutboxItem(peer: peer, envelope: try cipher.seal(content, session: &session), kind: kind, body: body,
                                        owner: OutboxOwner.current)
            try records.saveSession(session)
            try alsoKeeping?(records)
            return (try records.addToOutbox(item), item)
        }
        switch try await deliver(item, key: key, on: connection) {
        case .stored(let sent): return sent
        case .refused(let words): throw SecureClientFailure(words)
        case .unanswered(let words):
            throw SecureClientFailure("\(words) (the message is kept and sent again by the next command that reaches the server)")
        }
    }

    /// What became of an outbox entry sent.
    private enum Delivered {
        /// Stored by the server: moved to the history.
        case stored(SentEnvelope)
        /// Refused by the server (in words): dropped.
        case refused(String)
        /// No answer came (the connection failed; in words): kept for the next session.
        case unanswered(String)
    }

    /// `$SEALPOST_TEST_DIE_BEFORE_SEND` and `$SEALPOST_TEST_DIE_AFTER_SEND`: the crash tests'
    /// kill points on either side of a SEND, read once rather than on every send.
    private static let dieBeforeSend = ProcessInfo.processInfo.environment["SEALPOST_TEST_DIE_BEFORE_SEND"] != nil
    private static let dieAfterSend = ProcessInfo.processInfo.environment["SEALPOST_TEST_DIE_AFTER_SEND"] != nil

    /// Sends the outbox's `item` (key `key`) and settles it.
    private func deliver(_ item: SecureOutboxItem, key: Int64, on connection: any AccountServerConnection) async throws -> Delivered {
        if Self.dieBeforeSend { kill(getpid(), SIGKILL) }
        let sent: SentEnvelope
        do {
            sent = try await connection.send(item.envelope, to: item.peer)
            if Self.dieAfterSend { kill(getpid(), SIGKILL) }
        } catch let error as AccountServerError where error.code != nil {
            try await store.write { try $0.deleteFromOutbox(key: key) }
            return .refused(Self.words(error))
        } catch let error as AccountServerError {
            return .unanswered(Self.words(error))
        }
        try await store.write { records in
            try records.deleteFromOutbox(key: key)
            try records.appendHistory(SecureHistoryEntry(peer: item.peer, direction: .sent, time: sent.serverTime, kind: item.kind,
                                                         body: item.body, messageID: sent.messageID))
        }
        return .stored(sent)
    }

    /// Sends again what an earlier command sealed and never heard back about (a crash or a
    /// dropped connection came between), oldest first, before anything new is sent; not what
    /// a process still running on this home sealed (it may be sending it right now). A refusal
    /// drops that message and says so; a failed connection leaves the rest for next time.
    private func resendOutbox(on connection: any AccountServerConnection) async throws {
        let waiting = try await store.read { try $0.outbox() }
        for (key, item) in waiting where !OutboxOwner.isRunning(item.owner) {
            let (words, stop): (String, Bool)
            switch try await deliver(item, key: key, on: connection) {
            case .stored: continue
            case .refused(let refusal): (words, stop) = (refusal, false)
            case .unanswered(let failure): (words, stop) = (failure + " (kept for the next command)", true)
            }
            let name = (try? await store.read { try $0.contact(id: item.peer) })?.name ?? item.peer.description
            StandardStreams.error("sealpost: a \(item.kind) to \(name) sealed before a crash was not sent: \(words)\n")
            if stop { return }
        }
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
