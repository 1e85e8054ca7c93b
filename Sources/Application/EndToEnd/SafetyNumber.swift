import Domain

/// Signal's displayable numeric fingerprint, version 0 (docs/protocol-v3.md §10.7), over
/// each side's Ed25519 identity key and account id: 60 digits, the same on both sides.
public enum SafetyNumber {
    public static let iterations = 5_200

    /// The 60-digit safety number of two accounts.
    public static func compute(local: (key: SigningPublicKey, account: AccountID),
                               remote: (key: SigningPublicKey, account: AccountID),
                               crypto: any EndToEndCrypto) throws(CryptoError) -> String {
        let mine = try half(key: local.key, account: local.account, crypto: crypto)
        let theirs = try half(key: remote.key, account: remote.account, crypto: crypto)
        return mine <= theirs ? mine + theirs : theirs + mine
    }

    /// One side's 30 digits.
    public static func half(key: SigningPublicKey, account: AccountID, crypto: any EndToEndCrypto) throws(CryptoError) -> String {
        var hash: [UInt8] = [0, 0] + key.bytes + account.bytes
        for _ in 0..<iterations {
            hash = try crypto.sha512(hash + key.bytes)
        }
        var digits = ""
        for chunk in 0..<6 {
            let value = hash[chunk * 5..<chunk * 5 + 5].reduce(UInt64(0)) { $0 << 8 | UInt64($1) } % 100_000
            let text = String(value)
            digits += String(repeating: "0", count: 5 - text.count) + text
        }
        return digits
    }
}
