import Domain

/// Where messages wait for their recipients.
///
/// Contract (checked by the shared storage suite for every adapter):
/// - An id is assigned when a message is stored; ids ascend in storing order. Ids are the
///   store's own 64-bit numbers; wire formats map them to their fields.
/// - A message is visible to `claim` only once its whole content is stored and committed.
/// - A claimed message is invisible to every other claim until it is released, its
///   claim expires, or it is acknowledged (then it is gone for good).
/// - Storage for a message, including its content, is freed when it is acknowledged.
public protocol MessageStore: Sendable {
    /// Stores a message whose content is already in memory. Committed (durable in the
    /// durable stores) when it returns.
    func enqueue(_ header: MessageHeader, content: [UInt8]) async throws -> MessageID

    /// Starts a message whose content arrives in pieces; nothing is visible until
    /// `MessageUpload.commit()`. An upload that is neither committed nor aborted (say,
    /// the process died) is cleaned up by `recover()`.
    func beginUpload(_ header: MessageHeader) async throws -> any MessageUpload

    /// Claims the oldest waiting messages of `recipient`, in id order, as long as `budget`
    /// admits them (`ClaimBudget.admit(contentSize:)`: the first always fits, so an inbox
    /// never jams; the first that would go over ends the claim). An empty inbox gives an
    /// empty claim.
    func claim(for recipient: ClientID, budget: ClaimBudget) async throws -> MessageClaim

    /// Opens the content of a claimed message whose `inlineContent` is `nil`.
    ///
    /// - Throws: `StoreError.notFound` when the message is not held by `claim`.
    func openContent(of message: Envelope, in claim: MessageClaim) async throws -> any MessageContentReader

    /// Deletes every message of `claim` and frees its storage: it was delivered.
    func acknowledge(_ claim: MessageClaim) async throws

    /// Gives the messages of `claim` back to their inbox, unchanged: delivery failed.
    func release(_ claim: MessageClaim) async throws

    /// Keeps the messages of `claim` out of other pulls for a while longer: called while a
    /// long reply is still being written. Stores whose claims never expire only check that
    /// the claim still holds its messages. A claim without messages renews trivially.
    ///
    /// - Throws: `StoreError.notFound` when the claim no longer holds its messages (its
    ///   lease ran out and another pull took them, or it was released or acknowledged);
    ///   the reply must then be abandoned.
    func renew(_ claim: MessageClaim) async throws

    /// Housekeeping at start-up and from time to time: removes interrupted uploads and
    /// returns expired claims. Safe to call at any time.
    func recover() async throws
}

/// A message whose content is being written piece by piece.
public protocol MessageUpload: Sendable {
    /// Appends the next piece. The pieces must add up to the declared content size.
    func write(_ chunk: [UInt8]) async throws

    /// Makes the message visible, durably, and returns its id.
    ///
    /// - Throws: `StoreError.sizeMismatch` when fewer or more bytes were written than declared.
    func commit() async throws -> MessageID

    /// Abandons the upload and frees what it had stored. Never throws; safe after a failed write.
    func abort() async
}

/// Reads a stored message's content in order, piece by piece.
public protocol MessageContentReader: Sendable {
    /// The next piece, or `nil` after the last.
    func next() async throws -> [UInt8]?

    /// Frees the reader's resources. Safe to call more than once.
    func close() async
}

/// Messages taken out of an inbox for one reply.
public struct MessageClaim: Sendable, Hashable {
    /// Identifies the claim to the store that made it.
    public let token: UInt64
    public let recipient: ClientID
    /// Oldest first.
    public let messages: [Envelope]

    public init(token: UInt64, recipient: ClientID, messages: [Envelope]) {
        self.token = token
        self.recipient = recipient
        self.messages = messages
    }
}
