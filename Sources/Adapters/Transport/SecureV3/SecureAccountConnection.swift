import Application
import Domain
import NIOCore
import NIOPosix
import NIOSSL
import SealpostWire

/// The client's v3 session with a server (docs/protocol-v3.md), as the
/// `AccountServerConnection` port: TLS 1.3 and the server verified by `SecureConnection`,
/// then requests pipelined up to HELLO's `maxInFlight`, deliveries and notices pushed into
/// `events`, and a PING whenever the session has been quiet for a third of the server's idle
/// timeout.
///
/// One connection is one session: when it ends, requests fail with the reason and `events`
/// throws it. `ReconnectingAccountConnection` opens a new one when that happens. Whatever the
/// server sends that breaks the protocol ends the session with `.protocolViolation`.
public final class SecureAccountConnection: AccountServerConnection, Sendable {
    /// The server's HELLO on this connection.
    public var hello: V3Hello { session.hello }
    /// `certHash`: the SHA-256 of the server certificate seen, which authentication signs.
    public var certificateHash: [UInt8] { session.certificateHash }
    /// The fingerprint of the server's key, as verified.
    public let fingerprint: ServerFingerprint
    /// True when trust on first use recorded the server's fingerprint on this connection.
    public let recordedFirstUse: Bool
    /// `host:port`, for messages.
    public var server: String { session.server }
    public var events: AsyncThrowingStream<AccountServerEvent, any Error> { session.events }

    /// The session's requests and pushes (the attachment calls, in `+Attachments`, use it too).
    let session: SecureAccountSession
    private let task: Task<Void, Never>

    private init(session: SecureAccountSession, fingerprint: ServerFingerprint, recordedFirstUse: Bool, task: Task<Void, Never>) {
        self.session = session
        self.fingerprint = fingerprint
        self.recordedFirstUse = recordedFirstUse
        self.task = task
    }

    /// Connects to `host:port`, verifies the server and reads HELLO.
    ///
    /// - Throws: `AccountServerError.untrustedServer` when verification fails (a fingerprint
    ///   that is not the one expected, a certificate that does not verify, no `sealpost/3`),
    ///   `.cannotConnect` otherwise.
    public static func connect(
        host: String, port: Int, verification: ServerVerification,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        maxFrameBytes: UInt32 = V3Frame.defaultMaxLength, connectTimeout: TimeAmount = .seconds(10),
        helloTimeout: TimeAmount = .seconds(10)
    ) async throws -> SecureAccountConnection {
        let server = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        typealias Opened = (SecureAccountSession, ServerFingerprint, Bool)
        let (opened, openedSink) = AsyncThrowingStream<Opened, any Error>.makeStream()
        let task = Task {
            do {
                try await SecureConnection.withConnection(
                    host: host, port: port, verification: verification, group: group, maxFrameBytes: maxFrameBytes,
                    connectTimeout: connectTimeout, helloTimeout: helloTimeout
                ) { connection in
                    let session = SecureAccountSession(
                        hello: connection.hello, server: server, certificateHash: connection.certificateHash,
                        writer: connection.writer, closeChannel: connection.closer)
                    openedSink.yield((session, connection.fingerprint, connection.recordedFirstUse))
                    openedSink.finish()
                    await run(session, reading: connection)
                }
            } catch {
                openedSink.finish(throwing: connectionError(error, server: server))
            }
        }
        var iterator = opened.makeAsyncIterator()
        guard let (session, fingerprint, firstUse) = try await iterator.next() else {
            throw AccountServerError.cannotConnect(server: server, reason: "the connection ended before HELLO")
        }
        return SecureAccountConnection(session: session, fingerprint: fingerprint, recordedFirstUse: firstUse, task: task)
    }

    /// Ends the session (close_notify) and waits until the connection is closed. Requests
    /// still waiting fail with `.closed`; `events` finishes.
    public func close() async {
        session.end(.closed)
        await task.value
    }

    /// Why the session ended, or nil while it is open.
    public var endReason: AccountServerError? { session.endReason }

    // MARK: The port

    public func register(name: AccountName, signer: any AccountSigner, signedPrekey: Prekey, oneTimePrekeys: [Prekey]) async throws -> AccountID {
        guard oneTimePrekeys.count <= V3Request.maxPrekeysPerUpload else {
            throw AccountServerError.invalidRequest("\(oneTimePrekeys.count) one-time prekeys; a registration carries at most \(V3Request.maxPrekeysPerUpload)")
        }
        let registration = try Self.registration(
            name: name, signer: signer, signedPrekey: signedPrekey, oneTimePrekeys: oneTimePrekeys,
            nonce: hello.nonce, certificateHash: certificateHash)
        guard case .registered(let account) = try await session.perform(.register(registration)) else { throw mismatch("REGISTER") }
        return account
    }

    public func authenticate(account: AccountID, signer: any AccountSigner) async throws -> Int {
        let signature = try signer.sign(V3Signing.authentication(nonce: hello.nonce, account: account, certificateHash: certificateHash))
        guard case .authenticated(let left) = try await session.perform(.authenticate(account: account, signature: signature)) else {
            throw mismatch("AUTHENTICATE")
        }
        return Int(left)
    }

    public func uploadPrekeys(_ prekeys: [Prekey]) async throws -> Int {
        guard (1...V3Request.maxPrekeysPerUpload).contains(prekeys.count) else {
            throw AccountServerError.invalidRequest("\(prekeys.count) prekeys; an upload carries 1 to \(V3Request.maxPrekeysPerUpload)")
        }
        guard case .prekeysStored(let stored) = try await session.perform(.uploadPrekeys(prekeys)) else { throw mismatch("UPLOAD_PREKEYS") }
        return Int(stored)
    }

    public func countPrekeys() async throws -> Int {
        guard case .prekeyCount(let count) = try await session.perform(.countPrekeys) else { throw mismatch("COUNT_PREKEYS") }
        return Int(count)
    }

    public func replaceSignedPrekey(_ prekey: Prekey) async throws {
        guard case .done = try await session.perform(.replaceSignedPrekey(prekey)) else { throw mismatch("REPLACE_SIGNED_PREKEY") }
    }

    public func lookup(name: AccountName) async throws -> Account {
        guard case .account(let id, let answeredName, let identity) = try await session.perform(.lookup(name: name.value)) else {
            throw mismatch("LOOKUP")
        }
        guard answeredName.utf8.elementsEqual(name.value.utf8) else {
            throw AccountServerError.invalidAnswer(request: "LOOKUP \(name)", reason: "the answer names \"\(answeredName)\"")
        }
        try Self.verify(identity, request: "LOOKUP \(name)")
        return Account(id: id, name: name, identity: identity)
    }

    public func list(after: AccountName?, limit: Int) async throws -> AccountDirectoryPage {
        guard (1...Int(V3Request.maxListPage)).contains(limit) else {
            throw AccountServerError.invalidRequest("a page limit of \(limit); 1 to \(V3Request.maxListPage) allowed")
        }
        guard case .page(let listed, let more) = try await session.perform(.list(after: after?.value ?? "", limit: UInt16(limit))) else {
            throw mismatch("LIST")
        }
        let entries = try listed.map { entry in
            do {
                return AccountDirectoryPage.Entry(account: entry.account, name: try AccountName(entry.name))
            } catch {
                throw AccountServerError.invalidAnswer(request: "LIST", reason: "\(error)")
            }
        }
        return AccountDirectoryPage(entries: entries, more: more)
    }

    public func fetchBundle(of account: AccountID) async throws -> PrekeyBundle {
        guard case .bundle(let bundle) = try await session.perform(.fetchBundle(account)) else { throw mismatch("FETCH_BUNDLE") }
        let request = "FETCH_BUNDLE \(account)"
        guard bundle.account == account else {
            throw AccountServerError.invalidAnswer(request: request, reason: "the bundle is account \(bundle.account)'s")
        }
        try Self.verify(bundle.identity, request: request)
        let key = bundle.identity.signingKey
        guard OpenSSLCurve25519.isValid(bundle.signedPrekey.signature, of: V3Signing.prekey(id: bundle.signedPrekey.id, key: bundle.signedPrekey.publicKey, signed: true), by: key) else {
            throw AccountServerError.invalidAnswer(request: request, reason: "the signed prekey's signature does not verify")
        }
        if let oneTime = bundle.oneTimePrekey,
           !OpenSSLCurve25519.isValid(oneTime.signature, of: V3Signing.prekey(id: oneTime.id, key: oneTime.publicKey, signed: false), by: key) {
            throw AccountServerError.invalidAnswer(request: request, reason: "the one-time prekey's signature does not verify")
        }
        return bundle
    }

    public func send(_ envelope: [UInt8], to recipient: AccountID) async throws -> SentEnvelope {
        // The frame must fit too: length field aside, head, recipient and envelope length.
        let frameRoom = Int(hello.maxFrameBytes) - V3Frame.headSize - AccountID.byteCount - 4
        let limit = min(Int(hello.maxEnvelopeBytes), frameRoom)
        guard !envelope.isEmpty else { throw AccountServerError.invalidRequest("an envelope holds at least one byte") }
        guard envelope.count <= limit else {
            throw AccountServerError.invalidRequest("an envelope of \(envelope.count) bytes is over the server's limit of \(limit)")
        }
        guard case .sent(let id, let time) = try await session.perform(.send(recipient: recipient, envelope: ByteBuffer(bytes: envelope))) else {
            throw mismatch("SEND")
        }
        return SentEnvelope(messageID: id, serverTime: time)
    }

    public func acknowledge(_ messageIDs: [UInt64]) async throws -> Int {
        var deleted = 0
        try await withThrowingTaskGroup(of: Int.self) { group in
            var start = 0
            while start < messageIDs.count {
                let chunk = Array(messageIDs[start..<min(start + V3Request.maxAcksPerRequest, messageIDs.count)])
                start += chunk.count
                group.addTask { [session] in
                    guard case .acknowledged(let count) = try await session.perform(.ack(chunk)) else { throw Self.mismatch("ACK", server: session.server) }
                    return Int(count)
                }
            }
            for try await count in group { deleted += count }
        }
        return deleted
    }

    public func ping() async throws {
        guard case .done = try await session.perform(.ping) else { throw mismatch("PING") }
    }

    // MARK: Building and checking

    /// The REGISTER body for this connection: the public keys as given, and the proof signed by
    /// `signer` over `nonce ‖ certificateHash ‖ the body before the proof` (§4).
    public static func registration(
        name: AccountName, signer: any AccountSigner, signedPrekey: Prekey, oneTimePrekeys: [Prekey],
        nonce: [UInt8], certificateHash: [UInt8]
    ) throws -> V3Registration {
        var registration = V3Registration(
            name: name.value, identity: signer.identity, signedPrekey: signedPrekey, oneTimePrekeys: oneTimePrekeys,
            proof: try Signature(bytes: [UInt8](repeating: 0, count: Signature.byteCount)))
        registration.proof = try signer.sign(V3Signing.registration(registration, nonce: nonce, certificateHash: certificateHash))
        return registration
    }

    private static func verify(_ identity: IdentityKeys, request: String) throws {
        guard OpenSSLCurve25519.isValid(identity.agreementKeySignature, of: V3Signing.identityKey(identity.agreementKey), by: identity.signingKey) else {
            throw AccountServerError.invalidAnswer(request: request, reason: "the identity key's signature does not verify")
        }
    }

    func mismatch(_ request: String) -> AccountServerError {
        Self.mismatch(request, server: server)
    }

    private static func mismatch(_ request: String, server: String) -> AccountServerError {
        .protocolViolation(server: server, reason: "the answer to \(request) is of another request")
    }

    /// What a failure to connect means to the caller: verification failures are never retried.
    static func connectionError(_ error: any Error, server: String) -> AccountServerError {
        if let known = error as? AccountServerError { return known }
        guard let secure = error as? SecureConnectionError else {
            return .cannotConnect(server: server, reason: "\(error)")
        }
        switch secure {
        case .fingerprintMismatch, .handshakeFailed, .wrongApplicationProtocol:
            return .untrustedServer(server: server, reason: secure.description)
        case .noHello(_, let reason):
            return .cannotConnect(server: server, reason: "no HELLO: \(reason)")
        }
    }

    // MARK: The reader

    /// Reads the server's frames until the session ends, with the writer and the keep-alive
    /// beside it.
    private static func run(_ session: SecureAccountSession, reading connection: SecureClientSession) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await session.writeRequests() }
            group.addTask { await keepAlive(session) }
            let reason = await read(session, from: connection)
            session.end(reason)
            group.cancelAll()
        }
    }

    /// Hands each frame to its place; returns why the session ended.
    private static func read(_ session: SecureAccountSession, from connection: SecureClientSession) async -> AccountServerError {
        let server = session.server
        func violation(_ reason: String) -> AccountServerError { .protocolViolation(server: server, reason: reason) }
        while true {
            let message: V3ServerMessage?
            do {
                message = try await connection.next()
            } catch let error as V3WireError {
                return session.endReason ?? violation(error.description)
            } catch {
                return session.endReason ?? .connectionLost(server: server, reason: "\(error)")
            }
            guard let message else {
                return session.endReason ?? .connectionLost(server: server, reason: "the server closed the connection")
            }
            switch message {
            case .result(let id, let body):
                guard let type = session.requestType(of: id) else { return violation("a RESULT for request id \(id), which waits for no answer") }
                let result: V3Result
                do {
                    result = try V3Result.decode(answering: type, body: body)
                } catch {
                    return violation("the RESULT to \(type) request \(id): \(error)")
                }
                guard session.deliver(.success(result), to: id) else { return violation("a second answer to request id \(id)") }
            case .error(0, let error):
                // About the session, not a request: the server closes the connection after it.
                let code = AccountServerErrorCode(rawValue: error.code)
                return .connectionLost(server: server, reason: "the server ended the session: \(code) (\(error.message))")
            case .error(let id, let error):
                guard session.deliver(.failure(refusal(error)), to: id) else { return violation("an ERROR for request id \(id), which waits for no answer") }
            case .delivery(let delivery):
                session.push(.delivery(IncomingEnvelope(
                    messageID: delivery.messageID, sender: delivery.sender, serverTime: delivery.serverTime,
                    envelope: Array(delivery.envelope.readableBytesView))))
            case .notice(.prekeysLow(let count)):
                session.push(.prekeysLow(count: Int(count)))
            case .notice(.caughtUp):
                session.push(.caughtUp)
            case .notice(.unknown), .ignored:
                session.noteActivity()
            case .hello:
                return violation("a second HELLO")
            }
        }
    }

    /// The application's view of an ERROR.
    static func refusal(_ error: V3Error) -> AccountServerError {
        .refused(AccountServerErrorCode(rawValue: error.code),
                 retryAfter: error.retryAfterMilliseconds > 0 ? .milliseconds(Int64(error.retryAfterMilliseconds)) : nil,
                 message: error.message)
    }

    /// Sends PING whenever no frame went either way for a third of the idle timeout, so the
    /// server never finds the session idle (§3.1).
    private static func keepAlive(_ session: SecureAccountSession) async {
        guard session.hello.idleTimeoutSeconds > 0 else { return }
        let interval = Duration.milliseconds(Int64(session.hello.idleTimeoutSeconds) * 1000 / 3)
        var seen = session.activity
        while !Task.isCancelled, session.endReason == nil {
            do { try await Task.sleep(for: interval) } catch { return }
            let now = session.activity
            if now == seen {
                _ = try? await session.perform(.ping)
            }
            seen = session.activity
        }
    }
}
