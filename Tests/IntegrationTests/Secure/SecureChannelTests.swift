import Adapters
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import SealpostWire
import Testing

/// The secure channel over real sockets and real TLS 1.3: HELLO, the three ways a client
/// verifies the server, and the server's refusals.
@Suite("secure channel")
struct SecureChannelTests {
    @Test("a client pinned to the right fingerprint gets HELLO: version 3, a 32-byte nonce, the limits; nonces differ")
    func helloWithPin() async throws {
        let configuration = SecureServerConfiguration(
            host: "127.0.0.1", port: 0, authTimeoutSeconds: 7, idleTimeoutSeconds: 99, maxInFlight: 12, deliveryWindow: 34,
            maxFrameBytes: 200_000, maxEnvelopeBytes: 50_000, ioThreads: 1)
        try await SecureTestServer.with(configuration: configuration) { (server: SecureTestServer) async throws in
            let first = try await withPinnedSession(server) { session in (session.hello, session.certificateHash, session.fingerprint) }
            let second = try await withPinnedSession(server) { $0.hello }
            #expect(first.0.version == 3)
            #expect(first.0.nonce.count == 32)
            #expect(first.0.maxFrameBytes == 200_000)
            #expect(first.0.maxEnvelopeBytes == 50_000)
            #expect(first.0.maxInFlight == 12)
            #expect(first.0.deliveryWindow == 34)
            #expect(first.0.authTimeoutSeconds == 7)
            #expect(first.0.idleTimeoutSeconds == 99)
            #expect(first.0.nonce != second.nonce)
            #expect(first.0.nonce != [UInt8](repeating: 0, count: 32))
            // The channel binding is the hash of the certificate the server holds.
            #expect(first.1 == server.server.certificate.certificateHash)
            #expect(first.2 == server.fingerprint)
        }
    }

    @Test("a wrong pinned fingerprint is refused, and the message says why")
    func wrongPin() async throws {
        try await SecureTestServer.with() { (server: SecureTestServer) async throws in
            let wrong = ServerFingerprint(bytes: [UInt8](repeating: 0xAB, count: 32))
            let error = await #expect(throws: SecureConnectionError.self) {
                try await SecureConnection.withConnection(host: "127.0.0.1", port: server.port, verification: .pinned(wrong)) { _ in 0 }
            }
            let text = error.map { "\($0)" } ?? ""
            #expect(text.contains("impersonat"))
            #expect(text.contains(wrong.hex))
            #expect(text.contains(server.fingerprint.hex))
            #expect(text.contains("--server-fingerprint"))
            // The server is unharmed.
            #expect(try await withPinnedSession(server) { $0.hello.version } == 3)
        }
    }

    @Test("trust on first use: the first connection records, the second is accepted, a new key on the same address is refused")
    func trustOnFirstUse() async throws {
        let home = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: home) }
        let known = KnownServers(home: home.path)
        let first = try await SecureTestServer.start()
        let port = first.port
        let oldFingerprint = first.fingerprint
        let recorded = try await SecureConnection.withConnection(host: "127.0.0.1", port: port, verification: .trustOnFirstUse(known)) { $0.recordedFirstUse }
        #expect(recorded)
        let line = try String(contentsOfFile: known.path, encoding: .utf8)
        #expect(line == "127.0.0.1:\(port) \(oldFingerprint.hex)\n")
        let attributes = try FileManager.default.attributesOfItem(atPath: known.path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let again = try await SecureConnection.withConnection(host: "127.0.0.1", port: port, verification: .trustOnFirstUse(known)) { $0.recordedFirstUse }
        #expect(!again)
        await first.stop()

        // Another server, another key, on the same address.
        try await SecureTestServer.with(configuration: SecureServerConfiguration(host: "127.0.0.1", port: port, ioThreads: 1)) { (impostor: SecureTestServer) async throws in
            #expect(impostor.fingerprint != oldFingerprint)
            let error = await #expect(throws: SecureConnectionError.self) {
                try await SecureConnection.withConnection(host: "127.0.0.1", port: port, verification: .trustOnFirstUse(known)) { _ in 0 }
            }
            let text = error.map { "\($0)" } ?? ""
            #expect(text.contains("impersonat"))
            #expect(text.contains(oldFingerprint.hex))
            #expect(text.contains(impostor.fingerprint.hex))
            #expect(text.contains("sealpost forget-server 127.0.0.1:\(port)"))
            // The record is not changed by the refusal; forgetting it lets the new key in.
            #expect(try await known.fingerprint(for: "127.0.0.1:\(port)") == oldFingerprint)
            #expect(try await known.forget("127.0.0.1:\(port)"))
            let rerecorded = try await SecureConnection.withConnection(host: "127.0.0.1", port: port, verification: .trustOnFirstUse(known)) { $0.recordedFirstUse }
            #expect(rerecorded)
            #expect(try await known.fingerprint(for: "127.0.0.1:\(port)") == impostor.fingerprint)
        }
    }

    @Test("CA mode: a certificate from the CA for 127.0.0.1 and localhost is accepted; a self-signed server is refused")
    func certificateAuthority() async throws {
        let directory = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let authority = try OpenSSLCertificates.make(commonName: "Sealpost test CA", kind: .authority)
        let issued = try OpenSSLCertificates.make(
            commonName: "localhost", kind: .server(subjectAltNames: "DNS:localhost,IP:127.0.0.1"), issuer: authority)
        let caFile = directory.appendingPathComponent("ca.pem").path
        let certificateFile = directory.appendingPathComponent("server.pem").path
        let keyFile = directory.appendingPathComponent("server.key").path
        try authority.certificatePEM.write(toFile: caFile, atomically: true, encoding: .utf8)
        try issued.certificatePEM.write(toFile: certificateFile, atomically: true, encoding: .utf8)
        try issued.privateKeyPEM.write(toFile: keyFile, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: keyFile)
        let certificate = try await ServerCertificate.load(certificatePath: certificateFile, privateKeyPath: keyFile)
        #expect(certificate.warnings.isEmpty)
        try await SecureTestServer.with(certificate: certificate) { (server: SecureTestServer) async throws in
            for host in ["127.0.0.1", "localhost"] {
                let hello = try await SecureConnection.withConnection(host: host, port: server.port, verification: .certificateAuthority(caFile: caFile)) { $0.hello }
                #expect(hello.version == 3, "\(host)")
            }

            try await SecureTestServer.with() { (selfSigned: SecureTestServer) async throws in
                await #expect(throws: SecureConnectionError.self) {
                    try await SecureConnection.withConnection(host: "127.0.0.1", port: selfSigned.port, verification: .certificateAuthority(caFile: caFile)) { _ in 0 }
                }
            }
        }
    }

    @Test("a server that never answers the handshake: the client gives up after its HELLO timeout")
    func clientHelloTimeout() async throws {
        // A socket that listens and never accepts: the kernel completes TCP, nothing answers TLS.
        let (fd, port) = boundLoopbackSocket()
        defer { close(fd) }
        #expect(port > 0)
        #expect(listen(fd, 4) == 0)
        let pin = ServerFingerprint(bytes: [UInt8](repeating: 1, count: 32))
        let error = await #expect(throws: SecureConnectionError.self) {
            try await SecureConnection.withConnection(
                host: "127.0.0.1", port: port, verification: .pinned(pin), helloTimeout: .milliseconds(500)) { _ in 0 }
        }
        #expect(error.map { "\($0)" }?.contains("no TLS handshake and HELLO within 500 ms") == true)
    }

    @Test("connections beyond maxConnections are closed on accept; the count comes back down")
    func connectionLimit() async throws {
        try await SecureTestServer.with(
            configuration: SecureServerConfiguration(host: "127.0.0.1", port: 0, maxConnections: 1, ioThreads: 1)
        ) { (server: SecureTestServer) async throws in
            try await withPinnedSession(server) { session in
                #expect(session.hello.version == 3)
                await #expect(throws: (any Error).self) {
                    try await withPinnedSession(server) { _ in 0 }
                }
            }
            #expect(try await eventually { server.server.openConnections == 0 })
            #expect(try await withPinnedSession(server) { $0.hello.version } == 3)
        }
    }

    @Test("TLS 1.2 is refused; so is a handshake without ALPN sealpost/3; neither gets a byte of HELLO")
    func versionAndALPN() async throws {
        try await SecureTestServer.with() { (server: SecureTestServer) async throws in
            var tls12 = TLSConfiguration.makeClientConfiguration()
            tls12.maximumTLSVersion = .tlsv12
            tls12.applicationProtocols = [SecureServer.applicationProtocol]
            let old = try await TLSAttempt.run(port: server.port, tls: tls12)
            #expect(!old.handshakeCompleted)
            #expect(old.bytesReceived == 0)

            for protocols in [[], ["h2"]] {
                var tls = TLSConfiguration.makeClientConfiguration()
                tls.minimumTLSVersion = .tlsv13
                tls.applicationProtocols = protocols
                let attempt = try await TLSAttempt.run(port: server.port, tls: tls)
                #expect(attempt.negotiatedProtocol == nil, "\(protocols)")
                #expect(attempt.bytesReceived == 0, "\(protocols)")
            }
            // A proper client is still served.
            #expect(try await withPinnedSession(server) { $0.hello.version } == 3)
        }
    }

    @Test("garbage instead of a ClientHello closes that connection; the server serves others")
    func garbage() async throws {
        try await SecureTestServer.with() { (server: SecureTestServer) async throws in
            for garbage in [Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8), [UInt8](repeating: 0, count: 4096)] {
                // The server closes: cleanly, or with a reset. What it sends first is at most a
                // TLS alert record (type 21), never a frame.
                let reply = try await Self.readUntilClosed(garbage, port: server.port)
                #expect(reply.isEmpty || reply.first == 21)
            }
            #expect(try await withPinnedSession(server) { $0.hello.version } == 3)
        }
    }

    @Test("a slow handshake (nothing, or one byte a second) is closed after the auth timeout and blocks no one")
    func slowHandshake() async throws {
        try await SecureTestServer.with(
            configuration: SecureServerConfiguration(host: "127.0.0.1", port: 0, authTimeoutSeconds: 3, ioThreads: 1)
        ) { (server: SecureTestServer) async throws in
            let clock = ContinuousClock()
            let started = clock.now
            async let silent = RawClient.exchange([], port: server.port)
            // A byte every 250 ms; the 3 s deadline leaves room for a loaded machine's stalls.
            async let trickle = Self.trickle(port: server.port, every: .milliseconds(250))
            // While they hang on, a proper client is served at once.
            #expect(try await withPinnedSession(server) { $0.hello.version } == 3)
            _ = try await silent
            let sent = try await trickle
            #expect(sent >= 2)
            let elapsed = clock.now - started
            #expect(elapsed >= .milliseconds(2900))
            #expect(elapsed < .seconds(12))
            #expect(try await eventually { server.server.openConnections == 0 })
        }
    }

    @Test("before authentication a request gets ERROR notAuthenticated with its requestID, and the session goes on")
    func notAuthenticated() async throws {
        try await SecureTestServer.with() { (server: SecureTestServer) async throws in
            try await withPinnedSession(server) { session in
                try await session.send(.ping, requestID: 7)
                guard case .error(let id, let error) = try await session.next() else { Issue.record("no ERROR"); return }
                #expect(id == 7)
                #expect(error.code == 3)
                #expect(error.knownCode == .notAuthenticated)
                try await session.send(.countPrekeys, requestID: 8)
                guard case .error(let id2, let error2) = try await session.next() else { Issue.record("no second ERROR"); return }
                #expect(id2 == 8)
                #expect(error2.knownCode == .notAuthenticated)
                // An unknown request type in the request range: unknownRequest, the session goes on.
                var unknown = ByteBuffer()
                V3Frame(type: 0x3E, requestID: 9, body: ByteBuffer()).write(into: &unknown)
                try await session.send(raw: unknown)
                guard case .error(9, let error3) = try await session.next() else { Issue.record("no third ERROR"); return }
                #expect(error3.knownCode == .unknownRequest)
            }
        }
    }

    @Test("a frame claiming 4 GiB gets ERROR malformed, then the connection is closed")
    func hugeFrame() async throws {
        try await SecureTestServer.with() { (server: SecureTestServer) async throws in
            try await withPinnedSession(server) { session in
                try await session.send(raw: ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0x0B, 0, 0, 0, 1, 0, 0]))
                guard case .error(let id, let error) = try await session.next() else { Issue.record("no ERROR"); return }
                #expect(id == 0)
                #expect(error.knownCode == .malformed)
                #expect(try await session.next() == nil)
            }
        }
    }

    @Test("a malformed body and a zero requestID are protocol errors: ERROR malformed, then close")
    func protocolErrors() async throws {
        try await SecureTestServer.with() { (server: SecureTestServer) async throws in
            for (frame, expectedID) in [(V3Frame(type: 0x0B, requestID: 5, body: ByteBuffer(bytes: [1])), UInt32(5)),
                                        (V3Frame(type: 0x0B, requestID: 0, body: ByteBuffer()), UInt32(0))] {
                try await withPinnedSession(server) { session in
                    var bytes = ByteBuffer()
                    frame.write(into: &bytes)
                    try await session.send(raw: bytes)
                    guard case .error(let id, let error) = try await session.next() else { Issue.record("no ERROR"); return }
                    #expect(id == expectedID)
                    #expect(error.knownCode == .malformed)
                    #expect(try await session.next() == nil)
                }
            }
        }
    }

    @Test("a session that does not authenticate within authTimeoutSeconds is closed")
    func authTimeout() async throws {
        try await SecureTestServer.with(
            configuration: SecureServerConfiguration(host: "127.0.0.1", port: 0, authTimeoutSeconds: 1, ioThreads: 1)
        ) { (server: SecureTestServer) async throws in
            let clock = ContinuousClock()
            let started = clock.now
            let (timeout, end) = try await withPinnedSession(server) { session in
                (session.hello.authTimeoutSeconds, try await session.next())
            }
            let elapsed = clock.now - started
            #expect(timeout == 1)
            #expect(end == nil)
            #expect(elapsed >= .milliseconds(900))
            #expect(elapsed < .seconds(8))
        }
    }

    @Test("random frames and random bytes never crash the session: each ends in an answer or ERROR malformed and a close")
    func randomInput() async throws {
        var generator = SystemRandomNumberGenerator()
        var machine = SecureSessionStateMachine(hello: SecureServerConfiguration().hello(nonce: [UInt8](repeating: 3, count: 32)))
        _ = machine.handshakeCompleted(negotiatedProtocol: SecureServer.applicationProtocol)
        for _ in 0..<5_000 {
            var copy = machine
            let body = ByteBuffer(bytes: (0..<Int.random(in: 0...120, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) })
            let actions = copy.received(V3Frame(type: .random(in: 0...255, using: &generator), requestID: .random(in: 0...3, using: &generator), body: body))
            #expect((1...2).contains(actions.count))
            if actions.count == 2 { #expect(actions.last == .close && copy.state == .closed) }
        }

        try await SecureTestServer.with() { (server: SecureTestServer) async throws in
            for _ in 0..<20 {
                let noise = (0..<Int.random(in: 1...300, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
                try await withPinnedSession(server) { session in
                    try await session.send(raw: ByteBuffer(bytes: noise))
                    // Answers, then (for anything malformed) ERROR malformed and the end; a frame
                    // left incomplete waits for the auth timeout, so the client ends it here.
                    while let message = try await session.next() {
                        guard case .error(_, let error) = message else { Issue.record("\(message)"); return }
                        if error.knownCode == .malformed { #expect(try await session.next() == nil); return }
                        if error.knownCode == nil { Issue.record("unknown code \(error.code)") }
                        // A complete well-formed or unknown request was answered; try the rest.
                        guard [.notAuthenticated, .unknownRequest, .unavailable].contains(error.knownCode) else { Issue.record("\(error)"); return }
                        return
                    }
                }
            }
            #expect(try await withPinnedSession(server) { $0.hello.version } == 3)
        }
    }

    /// Writes `bytes` and reads until the server closes; a reset counts as a close.
    private static func readUntilClosed(_ bytes: [UInt8], port: Int) async throws -> [UInt8] {
        let channel = try await RawClient.connect(port: port)
        return try await channel.executeThenClose { inbound, outbound in
            try? await outbound.write(ByteBuffer(bytes: bytes))
            var received: [UInt8] = []
            do {
                for try await buffer in inbound { received.append(contentsOf: buffer.readableBytesView) }
            } catch let error as IOError where error.errnoCode == ECONNRESET {
                return received
            }
            return received
        }
    }

    /// The start of a ClientHello, one byte every `interval`, until the server closes the
    /// connection; returns how many bytes went out.
    private static func trickle(port: Int, every interval: Duration) async throws -> Int {
        let channel = try await RawClient.connect(port: port)
        let hello: [UInt8] = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03] + [UInt8](repeating: 7, count: 64)
        return try await channel.executeThenClose { inbound, outbound in
            async let closed: Void = { for try await _ in inbound {} }()
            var sent = 0
            for byte in hello {
                do {
                    try await outbound.write(ByteBuffer(bytes: [byte]))
                } catch {
                    break
                }
                sent += 1
                try await Task.sleep(for: interval)
                if channel.channel.isActive == false { break }
            }
            try? await closed
            return sent
        }
    }
}
