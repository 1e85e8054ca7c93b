import Foundation
import NIOPosix
import NIOSSL

/// The secure server's certificate and key (docs/protocol-v3.md §1), with what clients pin:
/// its `fingerprint` and its `certificateHash`.
///
/// Either the operator's PEM files, or a self-signed P-256 certificate that the server makes
/// on its first start in a directory of its own and reuses on every later start. Every file
/// is read and written on NIO's blocking thread pool, never on an event loop. The private
/// key is never logged.
public struct ServerCertificate: Sendable {
    /// Where the certificate came from.
    public enum Origin: Hashable, Sendable {
        /// The operator's files.
        case files(certificate: String, privateKey: String)
        /// The server's own self-signed certificate in this file; `created` when this start made it.
        case generated(path: String, created: Bool)
    }

    /// Why the certificate could not be loaded or made.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// The name of the file, in the certificate directory, that holds the generated key and
    /// certificate (mode 0600: the key is in it).
    public static let generatedFileName = "server.pem"

    /// The leaf first, then any intermediates.
    public let chain: [NIOSSLCertificate]
    public let privateKey: NIOSSLPrivateKey
    public let fingerprint: ServerFingerprint
    /// SHA-256 of the leaf's DER: the channel binding `certHash`.
    public let certificateHash: [UInt8]
    public let origin: Origin
    /// Problems worth an operator's attention that do not stop the server (a key file that
    /// others may read).
    public let warnings: [String]

    init(chain: [NIOSSLCertificate], privateKey: NIOSSLPrivateKey, origin: Origin, warnings: [String]) throws(Failure) {
        guard let leaf = chain.first else { throw Failure(description: "no certificate in \(origin)") }
        do {
            fingerprint = try ServerFingerprint(of: leaf)
            certificateHash = try ServerFingerprint.certificateHash(of: leaf)
        } catch {
            throw Failure(description: "cannot read the certificate's key: \(error)")
        }
        self.chain = chain
        self.privateKey = privateKey
        self.origin = origin
        self.warnings = warnings
    }

    /// The operator's certificate (PEM, leaf first; intermediates may follow) and private key (PEM).
    public static func load(certificatePath: String, privateKeyPath: String) async throws -> ServerCertificate {
        try await NIOThreadPool.singleton.runIfActive {
            try loadBlocking(certificatePath: certificatePath, privateKeyPath: privateKeyPath)
        }
    }

    /// The self-signed certificate kept in `directory`, made (with the directory, mode 0700)
    /// if absent. Two servers starting at once in one directory end up with the same one.
    public static func loadOrCreate(in directory: String) async throws -> ServerCertificate {
        try await NIOThreadPool.singleton.runIfActive { try loadOrCreateBlocking(in: directory) }
    }

    static func loadBlocking(certificatePath: String, privateKeyPath: String) throws -> ServerCertificate {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMBytes(try readFile(certificatePath))
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(description: "\(certificatePath): not a PEM certificate (\(error))")
        }
        let key = try privateKey(from: try readFile(privateKeyPath), path: privateKeyPath)
        return try ServerCertificate(
            chain: chain, privateKey: key, origin: .files(certificate: certificatePath, privateKey: privateKeyPath),
            warnings: permissionWarnings(privateKeyPath))
    }

    static func loadOrCreateBlocking(in directory: String) throws -> ServerCertificate {
        let path = (directory as NSString).appendingPathComponent(generatedFileName)
        var created = false
        if access(path, F_OK) != 0 {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let made: PEMCertificateAndKey
            do {
                made = try OpenSSLCertificates.make(commonName: "Sealpost server", kind: .server(subjectAltNames: "DNS:localhost,IP:127.0.0.1,IP:::1"))
            } catch {
                throw Failure(description: "cannot make the server's certificate: \(error)")
            }
            created = try writeExclusively(Array((made.privateKeyPEM + made.certificatePEM).utf8), to: path)
        }
        let bytes = try readFile(path)
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMBytes(bytes)
        } catch {
            throw Failure(description: "\(path): no PEM certificate in it (\(error))")
        }
        return try ServerCertificate(
            chain: chain, privateKey: try privateKey(from: bytes, path: path),
            origin: .generated(path: path, created: created), warnings: permissionWarnings(path))
    }

    private static func privateKey(from bytes: [UInt8], path: String) throws(Failure) -> NIOSSLPrivateKey {
        do {
            return try NIOSSLPrivateKey(bytes: bytes, format: .pem)
        } catch {
            // The error names no key material.
            throw Failure(description: "\(path): not a PEM private key (\(error))")
        }
    }

    private static func readFile(_ path: String) throws(Failure) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Failure(description: "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        return Array(data)
    }

    /// Writes `bytes` to a new file beside `path` (mode 0600), syncs it, and links it to
    /// `path`, which link(2) never replaces. Returns false when another process got there
    /// first (its file is kept and ours dropped), so a key and a certificate from two makers
    /// are never mixed.
    private static func writeExclusively(_ bytes: [UInt8], to path: String) throws(Failure) -> Bool {
        let temporary = "\(path).tmp-\(UInt64.random(in: 0...UInt64.max))"
        let fd = open(temporary, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure(description: "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        defer { unlink(temporary) }
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress! + written, bytes.count - written) }
            guard count > 0 else {
                let reason = String(cString: strerror(errno))
                close(fd)
                throw Failure(description: "cannot write \(temporary): \(reason)")
            }
            written += count
        }
        let synced = fsync(fd) == 0
        close(fd)
        guard synced else { throw Failure(description: "cannot sync \(temporary): \(String(cString: strerror(errno)))") }
        guard link(temporary, path) == 0 else {
            if errno == EEXIST { return false }
            throw Failure(description: "cannot create \(path): \(String(cString: strerror(errno)))")
        }
        let directory = open((path as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 {
            fsync(directory)
            close(directory)
        }
        return true
    }

    private static func permissionWarnings(_ keyPath: String) -> [String] {
        var status = stat()
        guard stat(keyPath, &status) == 0 else { return [] }
        guard status.st_mode & 0o077 != 0 else { return [] }
        return ["the private key file \(keyPath) is readable by others (mode \(String(status.st_mode & 0o777, radix: 8))); chmod 600 it"]
    }
}
