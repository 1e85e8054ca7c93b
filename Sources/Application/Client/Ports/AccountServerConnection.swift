import Domain

/// The client's way to a protocol v3 server (docs/protocol-v3.md): one authenticated,
/// persistent session over TLS 1.3, requests pipelined on it, deliveries pushed.
///
/// Every request may be made from any task, many at once; answers are matched to requests
/// whatever order they come in. Every method throws `AccountServerError`:
/// `.refused` for the server's ERROR (with its code, retry-after and message),
/// `.invalidRequest` for a request refused here before it was sent (too large, too many),
/// `.connectionLost` when the session ended before the answer came,
/// `.protocolViolation` when the server broke the protocol (the session is then ended),
/// `.invalidAnswer` for an answer whose signatures or names do not check out,
/// `.untrustedServer` when the server's key is not the one expected (never retried),
/// `.closed` after `close()`.
public protocol AccountServerConnection: Sendable {
    /// REGISTER (§5.1): creates an account named `name` with `signer`'s identity, its signed
    /// prekey and up to 100 one-time prekeys (each signed already, see `Prekey`), and
    /// authenticates the session as it. The registration proof is signed here, over this
    /// connection's nonce and server certificate.
    ///
    /// - Returns: the id the server picked for the account.
    /// - Throws: `.refused` with `.alreadyAuthenticated`, `.invalidName`, `.nameTaken`,
    ///   `.badSignature`, `.duplicatePrekey`.
    func register(name: AccountName, signer: any AccountSigner, signedPrekey: Prekey, oneTimePrekeys: [Prekey]) async throws -> AccountID

    /// AUTHENTICATE (§5.2): authenticates the session as `account`, signing this connection's
    /// nonce and server certificate with `signer`.
    ///
    /// - Returns: the account's one-time prekeys left on the server.
    /// - Throws: `.refused` with `.alreadyAuthenticated`, `.authenticationFailed`.
    func authenticate(account: AccountID, signer: any AccountSigner) async throws -> Int

    /// UPLOAD_PREKEYS (§5.3): 1 to 100 more one-time prekeys.
    ///
    /// - Returns: the account's one-time prekeys after the upload.
    /// - Throws: `.refused` with `.badSignature`, `.tooManyPrekeys`, `.duplicatePrekey`.
    func uploadPrekeys(_ prekeys: [Prekey]) async throws -> Int

    /// COUNT_PREKEYS (§5.4): the account's one-time prekeys on the server.
    func countPrekeys() async throws -> Int

    /// REPLACE_SIGNED_PREKEY (§5.5): bundles fetched from then on carry `prekey`.
    ///
    /// - Throws: `.refused` with `.badSignature`.
    func replaceSignedPrekey(_ prekey: Prekey) async throws

    /// LOOKUP (§5.6): the account named exactly `name`, its identity signature verified.
    ///
    /// - Throws: `.refused` with `.noSuchAccount`; `.invalidAnswer` when the identity key's
    ///   signature does not verify or the answer names another account.
    func lookup(name: AccountName) async throws -> Account

    /// LIST (§5.7): up to `limit` (1 to 100) accounts whose names sort byte-wise after `after`
    /// (from the first when nil), in that order.
    ///
    /// - Throws: `.refused` with `.directoryClosed`; `.invalidRequest` for a limit outside 1...100.
    func list(after: AccountName?, limit: Int) async throws -> AccountDirectoryPage

    /// FETCH_BUNDLE (§5.8): `account`'s prekey bundle, with one one-time prekey while any is
    /// left. Every signature in it is verified before it is returned.
    ///
    /// - Throws: `.refused` with `.noSuchAccount`; `.invalidAnswer` when a signature does not
    ///   verify or the bundle is another account's.
    func fetchBundle(of account: AccountID) async throws -> PrekeyBundle

    /// SEND (§5.9): stores `envelope` (1 to the server's `maxEnvelopeBytes` bytes, opaque) for
    /// `recipient`. The sender is the session's account.
    ///
    /// - Throws: `.refused` with `.noSuchAccount`, `.tooLarge`, `.inboxFull` (with a retry-after);
    ///   `.invalidRequest` for an empty envelope or one over the server's limit.
    func send(_ envelope: [UInt8], to recipient: AccountID) async throws -> SentEnvelope

    /// ACK (§5.10): deletes these delivered messages. Ids not delivered to this account, or
    /// acknowledged already, are ignored, so acknowledging twice is harmless. Any number of ids
    /// may be given (they go out 256 to a request).
    ///
    /// - Returns: how many messages were deleted.
    func acknowledge(_ messageIDs: [UInt64]) async throws -> Int

    /// PING (§5.11). Sessions are kept alive without it; this checks the server answers.
    func ping() async throws

    /// ATTACH_CREATE (§9.1): an attachment of `size` bytes (the ciphertext) that `recipients`
    /// may read.
    func createAttachment(size: UInt64, recipients: [AccountID]) async throws -> AttachmentID

    /// ATTACH_STATUS (§9.3): the size declared and the bytes stored so far, where an upload
    /// resumes.
    func attachmentStatus(_ id: AttachmentID) async throws -> (size: UInt64, stored: UInt64)

    /// ATTACH_WRITE (§9.2), pipelined: writes the chunks `next` gives (each at most
    /// `maxAttachmentChunk` bytes; nil when there are no more) from `offset` on, in order,
    /// with up to `window` writes in flight.
    ///
    /// - Returns: the bytes stored once the last write is answered.
    /// - Throws: `.refused` with `.wrongOffset` when `offset` is not where the attachment stands.
    func writeAttachment(_ id: AttachmentID, from offset: UInt64, window: Int,
                         next: () async throws -> [UInt8]?) async throws -> UInt64

    /// ATTACH_READ (§9.4), pipelined: reads `[offset, end)` in order, in chunks of at most
    /// `maxAttachmentChunk` bytes with up to `window` reads in flight, handing each to `sink`.
    func readAttachment(_ id: AttachmentID, from offset: UInt64, to end: UInt64, window: Int,
                        sink: ([UInt8]) async throws -> Void) async throws

    /// ATTACH_DONE (§9.5): this recipient has the attachment; the server deletes it once every
    /// recipient said so.
    func finishAttachment(_ id: AttachmentID) async throws

    /// The largest ATTACH_WRITE or ATTACH_READ chunk the session's frames hold.
    var maxAttachmentChunk: Int { get async throws }

    /// What the server pushes once the session is authenticated (§6): deliveries, oldest
    /// first, and notices; and, on a reconnecting connection, its reconnections. One consumer
    /// only. A delivery stays on the server until it is acknowledged.
    ///
    /// The stream finishes after `close()`, and throws the reason when the connection ends
    /// for good (a single session that ends, a server that is not trusted).
    var events: AsyncThrowingStream<AccountServerEvent, any Error> { get }

    /// Ends the session (close_notify) and fails whatever is still waiting with `.closed`.
    func close() async
}
