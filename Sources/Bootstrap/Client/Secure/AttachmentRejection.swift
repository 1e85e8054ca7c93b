/// A received attachment that failed its checks (its size, its SHA-256, the STREAM's AEAD) or
/// that the server no longer has: the same download would fail the same way, so it is tried
/// a bounded number of times (`SecureClient.fileCheckAttempts`), then recorded as failed.
struct AttachmentRejection: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
