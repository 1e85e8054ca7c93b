import Foundation
import NIOPosix

/// The client's record of servers trusted on first use (docs/protocol-v3.md §1), like SSH's
/// known_hosts: a text file with one `host:port fingerprint` line per server. It is written
/// whole to a new file (mode 0600) and renamed into place, so a reader never sees half of it.
/// Every call runs on NIO's blocking thread pool.
public struct KnownServers: Sendable {
    /// The file's name in the client's home directory.
    public static let fileName = "known_servers"

    public let path: String

    public init(path: String) {
        self.path = path
    }

    /// The file in the client home `directory`.
    public init(home directory: String) {
        path = (directory as NSString).appendingPathComponent(Self.fileName)
    }

    /// The fingerprint recorded for `server` (`host:port`), if any.
    public func fingerprint(for server: String) async throws -> ServerFingerprint? {
        let path = path
        return try await NIOThreadPool.singleton.runIfActive { try Self.read(path)[server] }
    }

    /// Records `fingerprint` for `server`, replacing what was recorded for it.
    public func record(_ fingerprint: ServerFingerprint, for server: String) async throws {
        let path = path
        try await NIOThreadPool.singleton.runIfActive {
            var entries = try Self.read(path)
            entries[server] = fingerprint
            try Self.write(entries, to: path)
        }
    }

    /// Forgets `server`; returns whether it was recorded.
    @discardableResult
    public func forget(_ server: String) async throws -> Bool {
        let path = path
        return try await NIOThreadPool.singleton.runIfActive {
            var entries = try Self.read(path)
            guard entries.removeValue(forKey: server) != nil else { return false }
            try Self.write(entries, to: path)
            return true
        }
    }

    /// Every `host:port` and its fingerprint. A missing file is an empty record; lines that
    /// are blank, comments (`#`) or unreadable are skipped.
    static func read(_ path: String) throws -> [String: ServerFingerprint] {
        guard FileManager.default.fileExists(atPath: path) else { return [:] }
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var entries: [String: ServerFingerprint] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let fields = line.split(whereSeparator: \.isWhitespace)
            guard fields.count == 2, !fields[0].hasPrefix("#"), let fingerprint = ServerFingerprint(hex: String(fields[1])) else { continue }
            entries[String(fields[0])] = fingerprint
        }
        return entries
    }

    private static func write(_ entries: [String: ServerFingerprint], to path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        let text = entries.keys.sorted().map { "\($0) \(entries[$0]!.hex)\n" }.joined()
        let temporary = "\(path).tmp-\(UInt64.random(in: 0...UInt64.max))"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: temporary])
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path, NSLocalizedFailureReasonErrorKey: reason])
        }
    }
}
