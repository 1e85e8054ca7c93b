import Adapters
import Foundation

/// A `sealpost serve` process with its secure server: the port and fingerprint from its
/// "secure: listening on HOST:PORT … fingerprint HEX" line, and its memory as the kernel
/// counts it.
struct SecureServerProcess: Sendable {
    let process: ServerProcess
    let port: Int
    let fingerprint: ServerFingerprint

    var pid: Int32 { process.pid }

    /// Starts `sealpost serve ARGUMENTS` (a store's options, a `--config`) and waits for its
    /// secure line.
    static func start(_ arguments: [String]) async throws -> SecureServerProcess {
        let process = try await ServerProcess.start(arguments: arguments, lines: 2)
        let line = process.lines[1].trimmingCharacters(in: .whitespacesAndNewlines)
        guard line.hasPrefix("secure: listening on"), let port = ServerProcess.port(in: line),
              let hex = line.split(separator: " ").last, let fingerprint = ServerFingerprint(hex: String(hex)) else {
            throw TestSetupError("unexpected secure line: \(line)")
        }
        return SecureServerProcess(process: process, port: port, fingerprint: fingerprint)
    }

    /// A configuration file in `directory` holding `json`, as `--config` options.
    static func config(_ json: String, in directory: URL) throws -> [String] {
        let path = directory.appendingPathComponent("secure-\(UInt32.random(in: 0...UInt32.max)).json").path
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        return ["--config", path]
    }

    /// The process's resident memory (VmRSS), in bytes.
    func residentBytes() throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else {
            throw TestSetupError("no VmRSS for \(pid)")
        }
        return kilobytes * 1024
    }

    func kill9() async { await process.kill9() }
    func terminate() async -> Int32 { await process.terminate() }
}
