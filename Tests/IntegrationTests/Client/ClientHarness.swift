import Adapters
import Application
import Domain
import Foundation

/// One client with its own temporary home, against a server on `port`. `services()` opens
/// the home afresh each time, like a new run of the CLI (a restart).
struct ClientHarness: Sendable {
    let home: URL
    let port: Int
    let maxReplySize: UInt64

    init(port: Int, maxReplySize: UInt64 = TCPSeedServerConnection.defaultMaxReplySize) throws {
        home = try TestStores.temporaryDirectory()
        self.port = port
        self.maxReplySize = maxReplySize
    }

    /// The ports over this home, freshly opened.
    func services() throws -> ClientServices {
        ClientServices(
            identity: MeInfoIdentityStore(home: home.path),
            state: try SQLiteClientStateStore.open(path: home.appendingPathComponent("sealpost-client.db").path),
            server: TCPSeedServerConnection(host: "127.0.0.1", port: port, maxReplySize: maxReplySize),
            crypto: OpenSSLLegacyCrypto(),
            files: LocalFileSystem(downloads: home.appendingPathComponent("downloads").path))
    }

    func register(_ name: String) async throws -> ClientIdentity {
        try await RegisterIdentity(services()).run(name: name)
    }

    func inbox(autoReply: Bool = true) async throws -> InboxResult {
        try await ReadInbox(services()).run(autoReply: autoReply)
    }

    func remove() {
        try? FileManager.default.removeItem(at: home)
    }
}

/// Builders for reply bytes (docs/protocol-v2.md §1.3).
enum Replies {
    static func reply(_ code: UInt16, _ payload: [UInt8]) -> [UInt8] {
        [2] + le(UInt32(code)).prefix(2) + le(UInt32(payload.count)) + payload
    }

    static func entry(from sender: ClientID, id: UInt32, type: UInt8, content: [UInt8]) -> [UInt8] {
        sender.bytes + le(id) + [type] + le(UInt32(content.count)) + content
    }

    static func le(_ value: UInt32) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }
}
