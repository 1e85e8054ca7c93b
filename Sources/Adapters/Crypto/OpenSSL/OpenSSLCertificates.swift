import COpenSSL

/// An X.509 certificate and its private key, both PEM. The key is secret: nothing here
/// logs it, and `description` leaves it out.
public struct PEMCertificateAndKey: Sendable, CustomStringConvertible {
    public var certificatePEM: String
    public var privateKeyPEM: String

    public init(certificatePEM: String, privateKeyPEM: String) {
        self.certificatePEM = certificatePEM
        self.privateKeyPEM = privateKeyPEM
    }

    public var description: String { "PEMCertificateAndKey(certificate: \(certificatePEM.utf8.count) bytes, private key: redacted)" }
}

/// Makes P-256 certificates with OpenSSL 3's libcrypto: the server's self-signed one, and
/// (for tests and operators' tooling) a CA and the server certificates it issues.
///
/// libcrypto is already the project's end-to-end crypto library, so certificates need no
/// second X.509 stack; the TLS channel itself runs on swift-nio-ssl's BoringSSL, whose
/// symbols are prefixed and do not clash with OpenSSL's.
public enum OpenSSLCertificates {
    /// Why a certificate could not be made or read.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// What a certificate is for.
    public enum Kind: Sendable {
        /// A TLS server's certificate (`CA:FALSE`, serverAuth) naming `subjectAltNames`
        /// (OpenSSL syntax, e.g. `DNS:localhost,IP:127.0.0.1`).
        case server(subjectAltNames: String)
        /// A certificate authority (`CA:TRUE`, keyCertSign).
        case authority
    }

    /// A new P-256 key and a certificate for it, signed by `issuer` (its certificate and key),
    /// or self-signed when `issuer` is nil.
    public static func make(commonName: String, kind: Kind, validDays: Int = 3650,
                            issuer: PEMCertificateAndKey? = nil) throws(Failure) -> PEMCertificateAndKey {
        ERR_clear_error()
        guard let key = sealpost_p256_keygen() else { throw failure("P-256 key generation") }
        defer { EVP_PKEY_free(key) }
        var issuerCertificate: OpaquePointer?
        var issuerKey: OpaquePointer?
        defer {
            X509_free(issuerCertificate)
            EVP_PKEY_free(issuerKey)
        }
        if let issuer {
            issuerCertificate = try readCertificate(issuer.certificatePEM)
            issuerKey = try readPrivateKey(issuer.privateKeyPEM)
        }
        let serial: [UInt8]
        do { serial = try OpenSSLCurve25519.randomBytes(16) } catch { throw Failure(description: error.description) }
        let (names, isCA): (String?, Int32) = switch kind {
        case .server(let subjectAltNames): (subjectAltNames, 0)
        case .authority: (nil, 1)
        }
        guard let certificate = sealpost_make_certificate(
            key, issuerKey ?? key, issuerCertificate, commonName, names, isCA, validDays, serial) else {
            throw failure("making the certificate")
        }
        defer { X509_free(certificate) }
        let certificatePEM = try writePEM { PEM_write_bio_X509($0, certificate) }
        let keyPEM = try writePEM { PEM_write_bio_PrivateKey($0, key, nil, nil, 0, nil, nil) }
        return PEMCertificateAndKey(certificatePEM: certificatePEM, privateKeyPEM: keyPEM)
    }

    /// SHA-256 of `bytes`.
    public static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 32
        // EVP_Digest with SHA-256 fails only when out of memory.
        precondition(EVP_Digest(bytes, bytes.count, &digest, &length, EVP_sha256(), nil) == 1 && length == 32, "SHA-256 failed")
        return digest
    }

    private static func readCertificate(_ pem: String) throws(Failure) -> OpaquePointer {
        let bio = try memoryBIO(pem)
        defer { BIO_free(bio) }
        guard let certificate = PEM_read_bio_X509(bio, nil, nil, nil) else { throw failure("reading the issuer's certificate") }
        return certificate
    }

    private static func readPrivateKey(_ pem: String) throws(Failure) -> OpaquePointer {
        let bio = try memoryBIO(pem)
        defer { BIO_free(bio) }
        guard let key = PEM_read_bio_PrivateKey(bio, nil, nil, nil) else { throw failure("reading the issuer's private key") }
        return key
    }

    private static func memoryBIO(_ text: String) throws(Failure) -> OpaquePointer {
        let bytes = Array(text.utf8)
        guard let bio = BIO_new(BIO_s_mem()) else { throw failure("BIO_new") }
        guard bytes.isEmpty || BIO_write(bio, bytes, Int32(bytes.count)) == Int32(bytes.count) else {
            BIO_free(bio)
            throw failure("BIO_write")
        }
        return bio
    }

    private static func writePEM(_ write: (OpaquePointer) -> Int32) throws(Failure) -> String {
        guard let bio = BIO_new(BIO_s_mem()) else { throw failure("BIO_new") }
        defer { BIO_free(bio) }
        guard write(bio) == 1 else { throw failure("writing PEM") }
        var data: UnsafeMutablePointer<CChar>?
        let length = sealpost_bio_contents(bio, &data)
        guard let data, length > 0 else { throw failure("reading PEM back") }
        return String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
    }

    private static func failure(_ operation: String) -> Failure {
        Failure(description: "\(operation) failed: \(OpenSSLErrorQueue.drain())")
    }
}
