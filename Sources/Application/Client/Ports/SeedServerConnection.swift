import Domain

/// The client's way to a seed-protocol server (docs/protocol-v2.md §2): one request per
/// connection, one reply. Every method opens a connection, sends one request and reads its reply.
///
/// Failures are `ClientError`: `.server` for a 9000 reply (naming the request),
/// `.transport` when the server cannot be reached or the connection breaks,
/// `.malformedReply` for a reply that does not follow the protocol, `.replyTooLarge` for a
/// reply whose declared size exceeds the adapter's configured limit.
public protocol SeedServerConnection: Sendable {
    /// 100 register → 1000: the new client id.
    func register(name: ClientName, publicKey: PublicKey) async throws -> ClientID

    /// 101 list clients → 1001: every other registered client, in registration order.
    func listClients(requester: ClientID) async throws -> [ClientSummary]

    /// 102 get public key → 1002: `target`'s 160-byte public key.
    ///
    /// - Throws: `ClientError.malformedReply` also when the reply names another client.
    func publicKey(of target: ClientID, requester: ClientID) async throws -> PublicKey

    /// 103 send message with content given whole → 1003: the server's message id.
    func send(_ kind: MessageKind, content: [UInt8], to recipient: ClientID, from sender: ClientID) async throws -> MessageID

    /// 103 send message whose content is produced while it is written, so that a large file
    /// never sits in memory. `content` must produce exactly `contentSize` bytes, or the
    /// request is abandoned (the server discards a truncated request) and this throws.
    func send(
        _ kind: MessageKind, contentSize: UInt32, content: any OutgoingContent,
        to recipient: ClientID, from sender: ClientID
    ) async throws -> MessageID

    /// 104 pull messages → 1004: hands each waiting message to `receiver` while it is read,
    /// oldest first, content in chunks.
    ///
    /// When the reply breaks off or is malformed in the middle of a message, that message
    /// ends with an error (`PulledMessageReceiver.end(error:)`) and this throws afterwards;
    /// the messages before it were delivered whole.
    func pull(requester: ClientID, into receiver: any PulledMessageReceiver) async throws
}
