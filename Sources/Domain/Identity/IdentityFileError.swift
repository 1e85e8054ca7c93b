/// Why an identity (me.info) could not be read or built. Every case says what is wrong and
/// where, in words a user can act on.
public enum IdentityFileError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The file does not have the three lines name, id, key.
    case wrongLineCount(Int)
    /// Line 1 is not an acceptable client name.
    case invalidName(String)
    /// Line 2 is not 32 hexadecimal digits.
    case invalidClientID(String)
    /// Line 3 is not standard base64.
    case invalidBase64(String)
    /// The private key's DER framing or its zero padding is wrong.
    case malformedKey(String)
    /// The key does not fit the 1000-byte buffer the original client writes.
    case keyTooLarge(Int)

    public var description: String {
        switch self {
        case .wrongLineCount(let count):
            "an identity file has 3 lines (name, client id, private key), this one has \(count)"
        case .invalidName(let why): "line 1 (name): \(why)"
        case .invalidClientID(let why): "line 2 (client id): \(why)"
        case .invalidBase64(let why): "line 3 (private key): \(why)"
        case .malformedKey(let why): "private key: \(why)"
        case .keyTooLarge(let size):
            "private key: \(size) bytes do not fit the \(ClientIdentity.keyBufferSize)-byte key buffer of me.info"
        }
    }
}
