import Adapters
import Foundation
import NIOSSL
import Testing

/// The server's certificate as an operator meets it: made on first start, kept, reused,
/// printed; given as files; and `serve` with the legacy port off.
@Suite("secure server certificate and serve")
struct SecureServeTests {
    @Test("the self-signed certificate is made once (key file 0600) and reused with the same fingerprint")
    func generatedOnce() async throws {
        let directory = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let tls = directory.appendingPathComponent("tls").path
        let first = try await ServerCertificate.loadOrCreate(in: tls)
        let path = (tls as NSString).appendingPathComponent(ServerCertificate.generatedFileName)
        #expect(first.origin == .generated(path: path, created: true))
        #expect(first.warnings.isEmpty)
        let file = try FileManager.default.attributesOfItem(atPath: path)
        #expect((file[.posixPermissions] as? Int) == 0o600)
        let folder = try FileManager.default.attributesOfItem(atPath: tls)
        #expect((folder[.posixPermissions] as? Int) == 0o700)
        // Nothing but the one file is left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: tls) == [ServerCertificate.generatedFileName])
        let second = try await ServerCertificate.loadOrCreate(in: tls)
        #expect(second.origin == .generated(path: path, created: false))
        #expect(second.fingerprint == first.fingerprint)
        #expect(second.certificateHash == first.certificateHash)
        // The fingerprint is the SHA-256 of the SubjectPublicKeyInfo, 64 lower-case hex digits.
        let leaf = try #require(first.chain.first)
        #expect(first.fingerprint.bytes == OpenSSLCertificates.sha256(try leaf.extractPublicKey().toSPKIBytes()))
        #expect(first.fingerprint.hex.count == 64)
        #expect(first.fingerprint.hex == first.fingerprint.hex.lowercased())
        #expect(ServerFingerprint(hex: first.fingerprint.hex.uppercased()) == first.fingerprint)

        // A key file that others may read is reported.
        chmod(path, 0o644)
        let loose = try await ServerCertificate.loadOrCreate(in: tls)
        #expect(loose.warnings.count == 1)
        #expect(loose.warnings.first?.contains("chmod 600") == true)
    }

    @Test("servers starting together in one directory end up with one certificate")
    func concurrentCreation() async throws {
        let directory = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let tls = directory.appendingPathComponent("tls").path
        let fingerprints = try await withThrowingTaskGroup(of: ServerFingerprint.self) { group in
            for _ in 0..<6 { group.addTask { try await ServerCertificate.loadOrCreate(in: tls).fingerprint } }
            return try await group.reduce(into: Set<ServerFingerprint>()) { $0.insert($1) }
        }
        #expect(fingerprints.count == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: tls) == [ServerCertificate.generatedFileName])
    }

    @Test("serve prints the secure line with the fingerprint; server-fingerprint prints the same; a restart keeps it")
    func serveAndFingerprintCommand() async throws {
        let directory = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("c.json").path
        try #"{"storage": {"kind": "sqlite", "sqlite": {"path": "db.sqlite"}}}"#.write(toFile: config, atomically: true, encoding: .utf8)
        // Printed before the first start: the operator can pin before anyone connects.
        let printed = try await Self.fingerprintCommand(["--config", config], workingDirectory: directory)
        #expect(printed.count == 64)
        let defaults = ["--host", "127.0.0.1", "--port", "0", "--secure-port", "0", "--log-level", "warning"]
        for _ in 0..<2 {
            let server = try await ServerProcess.start(arguments: ["--config", config], workingDirectory: directory, defaults: defaults, lines: 2)
            let line = server.lines[1]
            #expect(line.hasPrefix("secure: listening on 127.0.0.1:"))
            #expect(line.contains("(TLS 1.3, sealpost/3), fingerprint \(printed)"))
            let port = try #require(ServerProcess.port(in: line))
            let fingerprint = try #require(ServerFingerprint(hex: printed))
            let hello = try await SecureConnection.withConnection(host: "127.0.0.1", port: port, verification: .pinned(fingerprint)) { $0.hello }
            #expect(hello.version == 3)
            #expect(await server.terminate() == 0)
        }
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("db.sqlite.tls/server.pem").path))
    }

    @Test("tls.certificate and tls.privateKey: that certificate is served")
    func operatorFiles() async throws {
        let directory = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let made = try OpenSSLCertificates.make(commonName: "operator", kind: .server(subjectAltNames: "IP:127.0.0.1"))
        let certificate = directory.appendingPathComponent("cert.pem").path
        let key = directory.appendingPathComponent("key.pem").path
        try made.certificatePEM.write(toFile: certificate, atomically: true, encoding: .utf8)
        try made.privateKeyPEM.write(toFile: key, atomically: true, encoding: .utf8)
        chmod(key, 0o600)
        let expected = try ServerFingerprint(of: try NIOSSLCertificate(bytes: Array(made.certificatePEM.utf8), format: .pem))
        let config = directory.appendingPathComponent("c.json").path
        try """
            {"storage": {"kind": "memory"}, "tls": {"certificate": "\(certificate)", "privateKey": "\(key)"}}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        #expect(try await Self.fingerprintCommand(["--config", config], workingDirectory: directory) == expected.hex)
        let server = try await ServerProcess.start(
            arguments: ["--config", config], workingDirectory: directory,
            defaults: ["--host", "127.0.0.1", "--port", "0", "--secure-port", "0", "--log-level", "warning"], lines: 2)
        #expect(server.lines[1].contains("fingerprint \(expected.hex)"))
        let port = try #require(ServerProcess.port(in: server.lines[1]))
        let version = try await SecureConnection.withConnection(host: "127.0.0.1", port: port, verification: .pinned(expected)) { $0.hello.version }
        #expect(version == 3)
        #expect(await server.terminate() == 0)
        // No certificate of its own was made.
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("sealpost-tls").path))
    }

    @Test("server.legacy.enabled false: the legacy port is not listening, the secure server is")
    func legacyDisabled() async throws {
        let directory = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let legacyPort = try freeLoopbackPort()
        let config = directory.appendingPathComponent("c.json").path
        try #"{"server": {"port": \#(legacyPort), "legacy": {"enabled": false}}, "storage": {"kind": "memory"}}"#
            .write(toFile: config, atomically: true, encoding: .utf8)
        let server = try await ServerProcess.start(
            arguments: ["--config", config], workingDirectory: directory,
            defaults: ["--host", "127.0.0.1", "--secure-port", "0", "--log-level", "warning"])
        #expect(server.firstLine.hasPrefix("secure: listening on 127.0.0.1:"))
        await #expect(throws: (any Error).self) {
            _ = try await RawClient.exchange([0], port: legacyPort)
        }
        let hello = try await SecureConnection.withConnection(
            host: "127.0.0.1", port: server.port, verification: .trustOnFirstUse(KnownServers(home: directory.path))) { $0.hello }
        #expect(hello.version == 3)
        #expect(await server.terminate() == 0)
    }

    @Test("bad secure settings give a one-line reason naming the key")
    func badSettings() async throws {
        let directory = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let cases = [
            (#"{"server": {"secure": {"authTimeoutSeconds": 0}}}"#, "server.secure.authTimeoutSeconds"),
            (#"{"server": {"secure": {"maxInFlight": 70000}}}"#, "server.secure.maxInFlight"),
            (#"{"server": {"secure": {"port": 70000}}}"#, "server.secure.port"),
            (#"{"limits": {"maxFrameBytes": 100}}"#, "limits.maxFrameBytes"),
            (#"{"limits": {"maxFrameBytes": 65536, "maxEnvelopeBytes": 65536}}"#, "limits.maxEnvelopeBytes"),
            (#"{"limits": {"maxAttachmentBytes": 0}}"#, "limits.maxAttachmentBytes"),
            (#"{"limits": {"attachmentTTLDays": 0}}"#, "limits.attachmentTTLDays"),
            (#"{"tls": {"certificate": "/nonexistent.pem"}}"#, "tls.certificate and tls.privateKey"),
            (#"{"server": {"legacy": {"enabled": false}, "secure": {"enabled": false}}}"#, "nothing to serve"),
            (#"{"limits": {"rate": {"sendsPerPair": {"burst": 0}}}}"#, "limits.rate.sendsPerPair"),
            (#"{"limits": {"rate": {"bundleFetches": {"perSecond": -1}}}}"#, "limits.rate.bundleFetches"),
            (#"{"limits": {"inbox": {"senderSharePercent": 0}}}"#, "limits.inbox.senderSharePercent"),
            (#"{"limits": {"inbox": {"maxMessages": 0}}}"#, "limits.inbox.maxMessages"),
            (#"{"limits": {"messageTTLDays": 0}}"#, "limits.messageTTLDays"),
        ]
        for (index, (json, key)) in cases.enumerated() {
            let file = directory.appendingPathComponent("bad\(index).json").path
            try json.write(toFile: file, atomically: true, encoding: .utf8)
            let (status, stderr) = try await ServerProcess.runToEnd(["serve", "--config", file, "--store", "memory"], workingDirectory: directory)
            #expect(status != 0, "\(json)")
            #expect(stderr.contains(key), "\(json): \(stderr)")
        }
    }

    private static func fingerprintCommand(_ arguments: [String], workingDirectory: URL) async throws -> String {
        let process = ChildProcess()
        process.executableURL = ServerProcess.binary
        process.arguments = ["server-fingerprint"] + arguments
        process.currentDirectoryURL = workingDirectory
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        return try await offPool {
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw TestSetupError("server-fingerprint exited with \(process.terminationStatus)") }
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }
}
