import Foundation

/// The built `sealpost` binary, run as a separate process, for tests that kill it.
final class ServerProcess: @unchecked Sendable {
    // Confined to the test that owns it; only `port` and `pid` are read elsewhere.
    let process: Process
    let port: Int
    var pid: Int32 { process.processIdentifier }

    static var binary: URL {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/debug/sealpost")
    }

    /// Starts `sealpost serve ARGUMENTS --port 0` and waits for its "listening" line.
    init(arguments: [String], workingDirectory: URL? = nil, defaults: [String] = ["--host", "127.0.0.1", "--port", "0", "--log-level", "warning"]) throws {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = ["serve"] + defaults + arguments
        if let workingDirectory { process.currentDirectoryURL = workingDirectory }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        // Read the first line: "sealpost listening on HOST:PORT (store: KIND)".
        var line = Data()
        let handle = output.fileHandleForReading
        while !line.contains(UInt8(ascii: "\n")) {
            let byte = handle.readData(ofLength: 1)
            if byte.isEmpty { throw TestSetupError("server exited before listening") }
            line.append(byte)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard let portText = text.split(separator: " ").dropFirst(3).first?.split(separator: ":").last,
              let port = Int(portText) else {
            throw TestSetupError("unexpected first line: \(text)")
        }
        self.port = port
        self.firstLine = text
    }

    /// The line the server printed once it was listening.
    private(set) var firstLine = ""

    /// Runs `sealpost ARGUMENTS` to completion; returns its status and standard error.
    static func runToEnd(_ arguments: [String], workingDirectory: URL? = nil) throws -> (status: Int32, stderr: String) {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        if let workingDirectory { process.currentDirectoryURL = workingDirectory }
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let data = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// SIGKILL: no chance to flush anything.
    func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM, then wait for a clean exit; returns the exit status.
    func terminate() -> Int32 {
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        return process.terminationStatus
    }
}
