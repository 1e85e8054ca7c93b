/// The original client's identity file, me.info (vectors/README.md, "me.info, precisely"):
///
/// 1. the name;
/// 2. the client id as 32 upper-case hexadecimal digits;
/// 3. standard base64, on one line with padding, of a 1000-byte buffer holding the PKCS#8 DER
///    of the private key followed by zero bytes (so the line is always 1336 characters).
///
/// Each line ends in LF.
extension ClientIdentity {
    /// Reads me.info from its bytes.
    ///
    /// Tolerant of what editors and other systems do to text files: trailing spaces, tabs
    /// and CR at the end of a line, a missing final LF, and blank lines after the third.
    /// The key's size is recovered from its DER header; the padding after it must be zero.
    ///
    /// - Throws: `IdentityFileError` naming the line and what is wrong with it.
    public init(meInfo bytes: some Collection<UInt8>) throws(IdentityFileError) {
        var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            .map { Self.trimmingTrailingWhitespace(Array($0)) }
        while let last = lines.last, last.isEmpty {
            lines.removeLast()
        }
        guard lines.count == 3 else {
            throw .wrongLineCount(lines.count)
        }

        guard let nameText = String(validating: lines[0], as: UTF8.self) else {
            throw .invalidName("not valid UTF-8")
        }
        let name: ClientName
        do {
            name = try ClientName(nameText)
        } catch {
            throw .invalidName(error.description)
        }

        guard lines[1].count == 32, let id = ClientID(hex: String(decoding: lines[1], as: UTF8.self)) else {
            throw .invalidClientID("expected 32 hexadecimal digits, got \(lines[1].count) characters")
        }

        let buffer = try Base64.decode(lines[2])
        let keyLength = try PrivateKey.encodedLength(ofDERPrefixOf: buffer)
        guard buffer[keyLength...].allSatisfy({ $0 == 0 }) else {
            throw .malformedKey("non-zero bytes follow the key's DER in the key buffer")
        }
        let key = try PrivateKey(der: Array(buffer[..<keyLength]))
        try self.init(name: name, id: id, privateKey: key)
    }

    /// Reads me.info from its text.
    ///
    /// - Throws: `IdentityFileError`, as `init(meInfo:)` for bytes.
    public init(meInfoText text: String) throws(IdentityFileError) {
        try self.init(meInfo: Array(text.utf8))
    }

    /// The file exactly as the original client writes it.
    public var meInfo: [UInt8] {
        var buffer = privateKey.der
        buffer.append(contentsOf: repeatElement(0, count: Self.keyBufferSize - buffer.count))
        var out = Array(name.value.utf8)
        out.append(UInt8(ascii: "\n"))
        out.append(contentsOf: id.hex.uppercased().utf8)
        out.append(UInt8(ascii: "\n"))
        out.append(contentsOf: Base64.encode(buffer).utf8)
        out.append(UInt8(ascii: "\n"))
        return out
    }

    /// `meInfo` as text.
    public var meInfoText: String { String(decoding: meInfo, as: UTF8.self) }

    private static func trimmingTrailingWhitespace(_ line: [UInt8]) -> [UInt8] {
        var end = line.endIndex
        while end > line.startIndex, [0x20, 0x09, 0x0d, 0x0b, 0x0c].contains(line[end - 1]) {
            end -= 1
        }
        return Array(line[..<end])
    }
}
