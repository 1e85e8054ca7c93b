import Dispatch
import Foundation

/// The built `sealpost` binary, run as a separate process, for tests that kill it.
///
/// Every blocking wait (reading its output, waiting for it to exit) runs on a Dispatch
/// thread, never on the Swift cooperative pool: the in-process test servers share that
/// pool, and blocking it would starve them.
final class ServerProcess: @unchecked Sendable {
    let process: ChildProcess
    let port: Int
    /// The line the server printed once it was listening.
    let firstLine: String
    /// Every line read at start-up (`lines` of them), the first included.
    let lines: [String]
    var pid: Int32 { process.processIdentifier }

    static var binary: URL {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/debug/sealpost")
    }

    private init(process: ChildProcess, port: Int, lines: [String]) {
        self.process = process
        self.port = port
        self.firstLine = lines[0]
        self.lines = lines
    }

    /// One directory per test process for the secure server's generated certificate, so that
    /// servers started without a working directory do not write into the package.
    static let tlsDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("sealpost-test-tls-\(getpid())").path

    /// The port in a "... listening on HOST:PORT ..." line.
    static func port(in line: String) -> Int? {
        line.split(separator: " ").dropFirst(3).first?.split(separator: ":").last.flatMap { Int($0) }
    }

    /// Starts `sealpost serve DEFAULTS ARGUMENTS` and waits for its "listening" line (or
    /// `lines` lines: the secure server's follows the legacy one).
    static func start(
        arguments: [String], workingDirectory: URL? = nil,
        defaults: [String] = ["--host", "127.0.0.1", "--port", "0", "--secure-port", "0", "--tls-directory", tlsDirectory, "--log-level", "warning"],
        lines count: Int = 1
    ) async throws -> ServerProcess {
        let process = ChildProcess()
        process.executableURL = binary
        process.arguments = ["serve"] + defaults + arguments
        if let workingDirectory { process.currentDirectoryURL = workingDirectory }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let handle = output.fileHandleForReading
        // "sealpost listening on HOST:PORT (store: KIND)"
        let lines = try await offPool { () throws -> [String] in
            var lines: [String] = []
            while lines.count < count {
                var line = Data()
                while !line.contains(UInt8(ascii: "\n")) {
                    let byte = handle.readData(ofLength: 1)
                    if byte.isEmpty { throw TestSetupError("server exited before listening") }
                    line.append(byte)
                }
                lines.append(String(decoding: line, as: UTF8.self))
            }
            return lines
        }
        guard let port = port(in: lines[0]) else {
            throw TestSetupError("unexpected first line: \(lines[0])")
        }
        return ServerProcess(process: process, port: port, lines: lines)
    }

    /// SIGKILL: no chance to flush anything.
    func kill9() async {
        kill(process.processIdentifier, SIGKILL)
        _ = await waitForExit()
    }

    /// SIGTERM, then wait for the process to end; returns its exit status.
    func terminate() async -> Int32 {
        kill(process.processIdentifier, SIGTERM)
        return await waitForExit()
    }

    /// Waits for the process to end; returns its exit status.
    func waitForExit() async -> Int32 {
        let process = self.process
        return (try? await offPool { () -> Int32 in
            process.waitUntilExit()
            return process.terminationStatus
        }) ?? -1
    }

    /// Runs `sealpost ARGUMENTS` to completion; returns its status and standard error.
    static func runToEnd(_ arguments: [String], workingDirectory: URL? = nil) async throws -> (status: Int32, stderr: String) {
        let process = ChildProcess()
        process.executableURL = binary
        process.arguments = arguments
        if let workingDirectory { process.currentDirectoryURL = workingDirectory }
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let handle = errors.fileHandleForReading
        return try await offPool {
            let data = handle.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: data, as: UTF8.self))
        }
    }
}

/// Runs blocking work on a Dispatch thread and awaits its result.
func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            continuation.resume(with: Result { try work() })
        }
    }
}
