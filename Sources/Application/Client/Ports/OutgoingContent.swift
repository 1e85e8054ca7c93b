/// Content produced piece by piece while a request is written (a file being encrypted).
///
/// Used from one task at a time; deliberately not `Sendable`.
public protocol OutgoingContent: AnyObject {
    /// The next piece (possibly empty), or `nil` when the content is complete.
    ///
    /// - Throws: whatever stops production (a read error, a crypto error); the request is
    ///   then abandoned.
    func nextChunk() async throws -> [UInt8]?
}
