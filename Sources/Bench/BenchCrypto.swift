import Adapters

/// Client-side file encryption speed: the legacy suite's AES-128-CBC stream cipher, fed
/// 1 MiB pieces as a client streaming a file would, to compare with `openssl speed`.
enum BenchCrypto {
    static func run(mebibytes: Int) throws -> (seconds: Double, outputBytes: Int) {
        let crypto = OpenSSLLegacyCrypto()
        let encryptor = try crypto.makeEncryptor(key: try crypto.newSymmetricKey())
        var random = BenchRandom(state: 7)
        let chunk = (0..<(1 << 20)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        var output = 0
        let start = benchMicros()
        for _ in 0..<mebibytes {
            output += try encryptor.update(chunk).count
        }
        output += try encryptor.finish().count
        return (Double(benchMicros() - start) / 1e6, output)
    }
}
