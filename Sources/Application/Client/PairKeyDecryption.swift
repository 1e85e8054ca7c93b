import Domain

/// Decryption that tries every key known for a contact, current first (see `PairKeyPolicy`
/// for why more than one key may be kept).
enum PairKeyDecryption {
    /// The text under the first key that opens it. A key whose plaintext ends in the NUL the
    /// original appends is preferred over one that only passes the padding check (a wrong
    /// key passes it about once in 256 tries).
    ///
    /// - Throws: `ClientError.unreadableMessage` when no key opens it.
    static func text(_ ciphertext: [UInt8], keys: [PairKey], crypto: any LegacyCrypto) throws(ClientError) -> String {
        var fallback: String?
        var lastError: CryptoError?
        for key in keys {
            do {
                let cipher = try crypto.makeDecryptor(key: key.bytes)
                let plaintext = try cipher.update(ciphertext) + cipher.finish()
                let end = plaintext.firstIndex(of: 0) ?? plaintext.endIndex
                guard let text = String(validating: plaintext[..<end], as: UTF8.self) else {
                    lastError = .invalidText("it is not valid UTF-8")
                    continue
                }
                if plaintext.last == 0 { return text }
                if fallback == nil { fallback = text }
            } catch {
                lastError = error
            }
        }
        if let fallback { return fallback }
        let tried = keys.count == 1 ? "the pair key" : "any of the \(keys.count) known pair keys"
        throw .unreadableMessage("the text does not decrypt with \(tried)\(lastError.map { " (\($0))" } ?? "")")
    }
}
