/// A v3 client command's failure, in one line of words.
struct SecureClientFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
