import Foundation

/// A throwaway Mosquitto broker (Debian's `mosquitto`; scripts/install-deps --tests) on a
/// free loopback port: TLS 1.3 with a self-signed P-256 certificate made by `openssl req`,
/// persistence on in its own directory, anonymous access, as scripts/bench starts it.
final class MosquittoBroker: @unchecked Sendable {
    private let process: ChildProcess
    let directory: URL
    let port: Int
    /// The broker's certificate (PEM), which the client trusts as its root.
    let certificateFile: String
    var pid: Int32 { process.processIdentifier }

    private init(process: ChildProcess, directory: URL, port: Int, certificateFile: String) {
        self.process = process
        self.directory = directory
        self.port = port
        self.certificateFile = certificateFile
    }

    /// Starts a broker and waits until it accepts connections.
    static func start() async throws -> MosquittoBroker {
        let directory = try TestStores.temporaryDirectory()
        let certificate = directory.appendingPathComponent("cert.pem").path
        let key = directory.appendingPathComponent("key.pem").path
        let openssl = ChildProcess()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        openssl.arguments = [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", certificate,
        ]
        openssl.standardOutput = FileHandle.nullDevice
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        let status = try await offPool { () -> Int32 in
            openssl.waitUntilExit()
            return openssl.terminationStatus
        }
        guard status == 0 else { throw TestSetupError("openssl req failed with status \(status)") }

        let port = try freeLoopbackPort()
        let data = directory.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let configuration = directory.appendingPathComponent("mosquitto.conf")
        try """
            listener \(port) 127.0.0.1
            certfile \(certificate)
            keyfile \(key)
            tls_version tlsv1.3
            allow_anonymous true
            persistence true
            persistence_location \(data.path)/
            max_inflight_messages 256
            max_queued_messages 100000
            log_dest stderr
            log_type error

            """.write(to: configuration, atomically: true, encoding: .utf8)
        // Started as root, Mosquitto drops to its own user, which must read the key and
        // write its persistence file.
        if getuid() == 0, getpwnam("mosquitto") != nil {
            for path in [directory.path, certificate, key, data.path, configuration.path] {
                try FileManager.default.setAttributes([.ownerAccountName: "mosquitto"], ofItemAtPath: path)
            }
        }

        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["mosquitto", "-c", configuration.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let broker = MosquittoBroker(process: process, directory: directory, port: port, certificateFile: certificate)
        let listening = try await eventually(timeout: .seconds(10)) {
            guard process.isRunning else { return true }
            return Self.accepts(port: port)
        }
        guard listening, process.isRunning else {
            await broker.stop()
            throw TestSetupError("mosquitto did not start listening on port \(port) (is it installed? scripts/install-deps --tests)")
        }
        return broker
    }

    /// Starts a broker, runs `body`, and stops the broker before returning.
    static func with<T>(_ body: (MosquittoBroker) async throws -> T) async throws -> T {
        let broker = try await start()
        do {
            let result = try await body(broker)
            await broker.stop()
            return result
        } catch {
            await broker.stop()
            throw error
        }
    }

    /// SIGKILL, then waits for the broker to end, and removes its directory. Not SIGTERM: a
    /// broker spawned by the test process ignored it (the test waited forever; most likely the
    /// spawning thread's blocked signal mask, which a child inherits). Nothing in its
    /// persistence file matters to the tests.
    func stop() async {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        let process = self.process
        _ = try? await offPool { process.waitUntilExit() }
        try? FileManager.default.removeItem(at: directory)
    }

    private static func accepts(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
