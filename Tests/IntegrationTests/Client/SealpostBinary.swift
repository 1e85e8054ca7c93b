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
        let process = ChildProcess()
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
        try process.run()
        // Read by blocking threads, not readabilityHandler: libdispatch's event loop crashed
        // in a full run when a handler's descriptor was closed while its source was still
        // being cancelled.
        async let out = PipeReader.readAll(output.fileHandleForReading)
        async let err = PipeReader.readAll(errors.fileHandleForReading)
        let typed = Data(stdin.utf8)
        await PipeReader.onThread {
            input.fileHandleForWriting.write(typed)
            try? input.fileHandleForWriting.close()
        }
        let (stdout, stderr) = await (out, err)
        await PipeReader.onThread { process.waitUntilExit() }
        return Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// `sealpost serve --store memory --port 0`, running until `body` returns.
    static func withServer<T: Sendable>(_ body: @Sendable (Int) async throws -> T) async throws -> T {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["serve", "--store", "memory", "--port", "0", "--secure-port", "0", "--tls-directory", ServerProcess.tlsDirectory, "--host", "127.0.0.1", "--log-level", "error"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            // SIGKILL, not SIGTERM: the server's graceful shutdown waits for its housekeeping
            // service's sleep (up to 60 s), which would stall every test.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        let first = await PipeReader.firstLine(output.fileHandleForReading)
        // "sealpost listening on HOST:PORT (store: memory)"
        guard let range = first.range(of: #":(\d+) \("#, options: .regularExpression),
              let port = Int(first[range].dropFirst().dropLast(2))
        else { throw TestSetupError("the server did not say where it listens: \(first)") }
        return try await body(port)
    }
}

/// Reads a child's pipe on a thread of its own (blocking reads; no dispatch sources).
enum PipeReader {
    /// Everything until the writer closes.
    static func readAll(_ handle: FileHandle) async -> Data {
        await onThread { (try? handle.readToEnd()) ?? Data() }
    }

    /// What arrived up to and including the first newline (or until the writer closed).
    static func firstLine(_ handle: FileHandle) async -> String {
        await onThread {
            var data = Data()
            while !data.contains(UInt8(ascii: "\n")) {
                let piece = handle.availableData
                if piece.isEmpty { break }
                data.append(piece)
            }
            return String(decoding: data, as: UTF8.self)
        }
    }

    static func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: body()) }.start()
        }
    }
}
