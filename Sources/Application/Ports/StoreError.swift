/// Failures a storage adapter reports through the ports.
public enum StoreError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The generated client id exists already; draw another.
    case duplicateID
    /// A claim or message the caller named is not there (or no longer there).
    case notFound(String)
    /// An upload's bytes did not add up to its declared size.
    case sizeMismatch(declared: UInt64, written: UInt64)
    /// The store could not do its work: a database or file error, with its text.
    case unavailable(String)

    public var description: String {
        switch self {
        case .duplicateID: "the client id is already taken"
        case .notFound(let what): "not found: \(what)"
        case .sizeMismatch(let declared, let written): "declared \(declared) bytes but \(written) were written"
        case .unavailable(let why): "storage unavailable: \(why)"
        }
    }
}
