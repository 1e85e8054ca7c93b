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
    ///
    /// Without a `--config` among them, the server gets `loadLimits`' rate limits and inbox
    /// cap: these tests load a server on purpose, and the defaults would refuse them.
    static func start(_ arguments: [String]) async throws -> SecureServerProcess {
        var arguments = arguments
        if !arguments.contains("--config") {
            arguments += try config("{}", in: FileManager.default.temporaryDirectory)
        }
        let process = try await ServerProcess.start(arguments: arguments, lines: 2)
        let line = process.lines[1].trimmingCharacters(in: .whitespacesAndNewlines)
        guard line.hasPrefix("secure: listening on"), let port = ServerProcess.port(in: line),
              let hex = line.split(separator: " ").last, let fingerprint = ServerFingerprint(hex: String(hex)) else {
            throw TestSetupError("unexpected secure line: \(line)")
        }
        return SecureServerProcess(process: process, port: port, fingerprint: fingerprint)
    }

    /// A configuration file in `directory` holding `json`, as `--config` options. Unless
    /// `json` sets `limits.rate` or `limits.inbox` itself, `loadLimits` are added.
    static func config(_ json: String, in directory: URL) throws -> [String] {
        guard var object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else {
            throw TestSetupError("a configuration must be a JSON object: \(json)")
        }
        var limits = object["limits"] as? [String: Any] ?? [:]
        for (key, value) in loadLimits where limits[key] == nil { limits[key] = value }
        object["limits"] = limits
        let path = directory.appendingPathComponent("secure-\(UInt32.random(in: 0...UInt32.max)).json").path
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
        return ["--config", path]
    }

    /// Rate limits and an inbox cap far above what a load test sends (the defaults allow one
    /// sender 60 messages to one recipient, then one a second).
    static var loadLimits: [String: Any] { [
        "rate": [
            "sendsPerPair": ["burst": 1e9, "perSecond": 1e9],
            "inboundBytesPerRecipient": ["burst": 1e12, "perSecond": 1e12],
            "bundleFetches": ["burst": 1e9, "perSecond": 1e9],
            "registrations": ["burst": 1e9, "perSecond": 1e9],
            "failedAuthentications": ["burst": 1e9, "perSecond": 1e9],
        ],
        "inbox": ["maxMessages": 10_000_000, "maxBytes": 1 << 40, "senderSharePercent": 100],
    ] }

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
