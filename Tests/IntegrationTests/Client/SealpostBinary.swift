import Foundation
import Synchronization

/// Runs the built `sealpost` binary (`.build/debug/sealpost`, found from this file's path;
/// `swift test` builds it before the tests run).
enum SealpostBinary {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var path: String {
        let debug = packageRoot.appendingPathComponent(".build/debug/sealpost").path
        if FileManager.default.isExecutableFile(atPath: debug) { return debug }
        return packageRoot.appendingPathComponent(".build/release/sealpost").path
    }

    struct Result: Sendable {
        let status: Int32
        let stdout: String
        let stderr: String
        var lines: [String] { stdout.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }
    }

    /// Runs `sealpost arguments` with `stdin` as input, in `directory`, with a clean
    /// environment (HOME set to `directory`) plus `environment`; waits without blocking a thread.
    /// With `addressSpaceKiB`, the process gets that much address space at most (`ulimit -v`).
    static func run(
        _ arguments: [String], stdin: String = "", directory: URL, environment: [String: String] = [:],
        addressSpaceKiB: Int? = nil
    ) async throws -> Result {
        let process = Process()
        if let addressSpaceKiB {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "ulimit -v \(addressSpaceKiB) && exec \"$0\" \"$@\"", path] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: path)
            process.arguments = arguments
        }
        process.currentDirectoryURL = directory
        var env = ["HOME": directory.path, "PATH": "/usr/bin:/bin"]
        env.merge(environment) { _, new in new }
        process.environment = env
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        let collected = Collector()
        output.fileHandleForReading.readabilityHandler = { collected.append(out: $0.availableData) }
        errors.fileHandleForReading.readabilityHandler = { collected.append(err: $0.availableData) }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            process.terminationHandler = { _ in continuation.resume() }
            do {
                try Spawn.run(process)
                input.fileHandleForWriting.write(Data(stdin.utf8))
                try? input.fileHandleForWriting.close()
            } catch {
                continuation.resume(throwing: error)
            }
        }
        output.fileHandleForReading.readabilityHandler = nil
        errors.fileHandleForReading.readabilityHandler = nil
        collected.append(out: (try? output.fileHandleForReading.readToEnd()) ?? Data())
        collected.append(err: (try? errors.fileHandleForReading.readToEnd()) ?? Data())
        let (out, err) = collected.value
        return Result(status: process.terminationStatus, stdout: out, stderr: err)
    }

    /// `sealpost serve --store memory --port 0`, running until `body` returns.
    static func withServer<T: Sendable>(_ body: @Sendable (Int) async throws -> T) async throws -> T {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["serve", "--store", "memory", "--port", "0", "--secure-port", "0", "--tls-directory", ServerProcess.tlsDirectory, "--host", "127.0.0.1", "--log-level", "error"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        let lines = AsyncStream<String> { continuation in
            let buffer = Collector()
            output.fileHandleForReading.readabilityHandler = { handle in
                let data = handle.availableData
                if data.isEmpty { continuation.finish(); return }
                buffer.append(out: data)
                if buffer.value.0.contains("\n") { continuation.yield(buffer.value.0); continuation.finish() }
            }
        }
        try Spawn.run(process)
        defer {
            output.fileHandleForReading.readabilityHandler = nil
            // SIGKILL, not SIGTERM: the server's graceful shutdown waits for its housekeeping
            // service's sleep (up to 60 s), which would stall every test.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        var first = ""
        for await line in lines { first = line }
        // "sealpost listening on HOST:PORT (store: memory)"
        guard let range = first.range(of: #":(\d+) \("#, options: .regularExpression),
              let port = Int(first[range].dropFirst().dropLast(2))
        else { throw TestSetupError("the server did not say where it listens: \(first)") }
        return try await body(port)
    }
}

/// Output gathered from pipe callbacks.
final class Collector: Sendable {
    private let data = Mutex<(out: Data, err: Data)>((Data(), Data()))
    func append(out bytes: Data) { data.withLock { $0.out.append(bytes) } }
    func append(err bytes: Data) { data.withLock { $0.err.append(bytes) } }
    var value: (String, String) {
        data.withLock { (String(decoding: $0.out, as: UTF8.self), String(decoding: $0.err, as: UTF8.self)) }
    }
}
