import Application
import Domain

/// What became of one delivery.
enum SecureReceipt: Sendable {
    /// Decrypted, kept in the history, acknowledged.
    case message(messageID: UInt64, from: AccountID, name: String?, time: UInt64, content: MessageContent)
    /// Its id was accepted before (a redelivery after a crash before the ACK): acknowledged, not shown.
    case alreadySeen(messageID: UInt64)
    /// A replayed or duplicated envelope (its message key was used already): dropped.
    case duplicate(messageID: UInt64, from: AccountID, name: String?)
    /// Sent under an identity other than the one pinned for the sender: left on the server
    /// until the user trusts the new key.
    case keyChanged(messageID: UInt64, from: AccountID, name: String?)
    /// A file, saved at `path` (`size` bytes), kept in the history, acknowledged.
    case file(messageID: UInt64, from: AccountID, name: String?, time: UInt64, fileName: String, path: String, size: UInt64)
    /// A file whose download or check failed: not kept, not acknowledged, so it comes again.
    case fileFailed(messageID: UInt64, from: AccountID, name: String?, reason: String)
    /// A file that failed its checks `SecureClient.fileCheckAttempts` times: given up, kept in
    /// the history as failed with `reason`, acknowledged.
    case fileRejected(messageID: UInt64, from: AccountID, name: String?, time: UInt64, fileName: String, reason: String)
    /// It does not open: dropped and acknowledged.
    case failed(messageID: UInt64, from: AccountID, name: String?, reason: String)

    /// The delivery's message id.
    var messageID: UInt64 {
        switch self {
        case .message(let id, _, _, _, _), .alreadySeen(let id), .duplicate(let id, _, _), .keyChanged(let id, _, _),
             .file(let id, _, _, _, _, _, _), .fileFailed(let id, _, _, _), .fileRejected(let id, _, _, _, _, _), .failed(let id, _, _, _):
            id
        }
    }
}
