import Domain

/// A `send-file` begun on a home and not yet announced: the attachment it created on the
/// server, the key its STREAM is sealed under, and the file it reads, kept before the first
/// byte is uploaded, so that a `send-file` run again after a crash resumes the same attachment
/// from the server's ATTACH_STATUS offset instead of starting over. Deleted in the same
/// transaction that keeps the sent message in the history.
public struct SecurePendingUpload: Sendable, CustomStringConvertible {
    /// The contact the file goes to.
    public let recipient: AccountID
    /// The file's absolute path.
    public let path: String
    /// The attachment's id on the server (16 bytes).
    public let attachment: [UInt8]
    /// The file's key (32 bytes).
    public let key: [UInt8]
    /// The file's size in bytes, as when the upload began.
    public let plainSize: UInt64
    /// The file's modification time in nanoseconds since 1970, as when the upload began.
    public let modified: Int64
    /// The name it is sent under.
    public let fileName: String

    public init(recipient: AccountID, path: String, attachment: [UInt8], key: [UInt8], plainSize: UInt64, modified: Int64, fileName: String) {
        self.recipient = recipient
        self.path = path
        self.attachment = attachment
        self.key = key
        self.plainSize = plainSize
        self.modified = modified
        self.fileName = fileName
    }

    // The key stays out of every description.
    public var description: String { "upload of \(path) (\(plainSize) bytes), not yet sent" }
}
