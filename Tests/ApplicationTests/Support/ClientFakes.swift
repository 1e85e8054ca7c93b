import Application
import Domain
import Synchronization

/// me.info in memory.
final class InMemoryIdentityStore: IdentityStore {
    private let stored: Mutex<ClientIdentity?>
    init(_ identity: ClientIdentity? = nil) { stored = Mutex(identity) }
    func load() -> ClientIdentity? { stored.withLock { $0 } }
    func save(_ identity: ClientIdentity) { stored.withLock { $0 = identity } }
}

/// Contacts and keys in memory, following the `ClientStateStore` contract.
final class InMemoryClientStateStore: ClientStateStore {
    private struct Entry {
        var name: ClientName?
        var publicKey: PublicKey?
        var keys: [PairKey] = []
    }

    private let entries = Mutex<[ClientID: Entry]>([:])

    func contact(withID id: ClientID) -> Contact? {
        entries.withLock { entries in entries[id].map { Contact(id: id, name: $0.name, publicKey: $0.publicKey) } }
    }

    func contact(named name: ClientName) -> Contact? {
        entries.withLock { entries in
            entries.first { $0.value.name == name }.map { Contact(id: $0.key, name: name, publicKey: $0.value.publicKey) }
        }
    }

    func recordClients(_ clients: [ClientSummary]) {
        entries.withLock { entries in
            for client in clients {
                for (id, entry) in entries where entry.name == client.name && id != client.id {
                    entries[id]?.name = nil
                }
                entries[client.id, default: Entry()].name = client.name
            }
        }
    }

    func recordPublicKey(_ key: PublicKey, for id: ClientID) {
        entries.withLock { $0[id, default: Entry()].publicKey = key }
    }

    func pairKeys(for id: ClientID) -> [PairKey] {
        entries.withLock { $0[id]?.keys ?? [] }
    }

    func addPairKey(_ key: PairKey, for id: ClientID, makeCurrent: Bool) {
        entries.withLock { entries in
            var keys = entries[id, default: Entry()].keys
            if let known = keys.firstIndex(where: { $0.bytes == key.bytes }) {
                guard makeCurrent else { return }
                keys.insert(keys.remove(at: known), at: 0)
            } else if makeCurrent || keys.isEmpty {
                keys.insert(key, at: 0)
            } else {
                keys.insert(key, at: 1)
            }
            entries[id, default: Entry()].keys = keys
        }
    }
}

/// Files to send and received files, in memory.
final class InMemoryFiles: LocalFiles {
    private struct State {
        var files: [String: [UInt8]] = [:]
        var downloads: [String: [UInt8]] = [:]
        var discarded = 0
        var closed = 0
    }

    private let state = Mutex(State())

    /// Puts a file to send at `path`.
    func add(_ path: String, _ bytes: [UInt8]) { state.withLock { $0.files[path] = bytes } }

    /// Received files by final path.
    var downloads: [String: [UInt8]] { state.withLock { $0.downloads } }
    /// Downloads abandoned before their commit.
    var discarded: Int { state.withLock { $0.discarded } }
    /// Readers closed.
    var closed: Int { state.withLock { $0.closed } }

    func openForReading(_ path: String) throws -> any FileReader {
        guard let bytes = state.withLock({ $0.files[path] }) else {
            throw ClientError.localFile(path: path, reason: "no such file")
        }
        return Reader(bytes: bytes) { [self] in state.withLock { $0.closed += 1 } }
    }

    func createDownload(suggestedName: String) throws -> any DownloadWriter {
        Writer(name: suggestedName, files: self)
    }

    fileprivate func commit(_ name: String, _ bytes: [UInt8]) -> String {
        state.withLock { state in
            var path = "downloads/\(name)"
            var number = 1
            while state.downloads[path] != nil {
                number += 1
                path = "downloads/\(name)-\(number)"
            }
            state.downloads[path] = bytes
            return path
        }
    }

    fileprivate func discard() { state.withLock { $0.discarded += 1 } }

    private final class Reader: FileReader {
        let bytes: [UInt8]
        var offset = 0
        let onClose: () -> Void
        var size: UInt64 { UInt64(bytes.count) }
        init(bytes: [UInt8], onClose: @escaping () -> Void) {
            self.bytes = bytes
            self.onClose = onClose
        }
        func read(upTo maximum: Int) throws -> [UInt8] {
            let end = min(offset + maximum, bytes.count)
            defer { offset = end }
            return Array(bytes[offset..<end])
        }
        func close() { onClose() }
    }

    private final class Writer: DownloadWriter {
        let name: String
        let files: InMemoryFiles
        var bytes: [UInt8] = []
        var done = false
        init(name: String, files: InMemoryFiles) {
            self.name = name
            self.files = files
        }
        func write(_ more: [UInt8]) throws { bytes += more }
        func commit() throws -> String {
            done = true
            return files.commit(name, bytes)
        }
        func discard() {
            guard !done else { return }
            done = true
            files.discard()
        }
    }
}

/// Records what a transfer reported.
final class RecordingProgress: TransferProgress {
    var started: [(label: String, total: UInt64)] = []
    var advances: [UInt64] = []
    var finished = 0
    func start(label: String, total: UInt64) { started.append((label, total)) }
    func advance(to done: UInt64) { advances.append(done) }
    func finish() { finished += 1 }
}
