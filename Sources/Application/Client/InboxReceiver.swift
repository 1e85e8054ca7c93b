import Domain

/// Handles the messages of one pull while they stream in: stores keys, decrypts texts,
/// decrypts files to disk, and notes key requests to answer afterwards. A message that
/// cannot be read gets an error in its entry; the others go on.
final class InboxReceiver: PulledMessageReceiver {
    /// The largest text or key message kept in memory; larger ones are refused.
    static let maxInMemoryContent = 64 * 1024 * 1024
    /// The most keys a file is decrypted with at once (current and older, newest first).
    static let maxFileKeys = 4

    private let services: ClientServices
    private let me: ClientIdentity
    private let progress: (any TransferProgress)?

    private(set) var entries: [InboxEntry] = []
    /// Senders of key requests, in order, each once.
    private(set) var keyRequesters: [ClientID] = []

    private var header: PulledMessageHeader?
    private var entry: InboxEntry?
    private var buffer: [UInt8] = []
    private var refused: String?
    private var files: [FileCandidate] = []
    private var received: UInt64 = 0

    /// One key's attempt at a file: its own decryptor and temporary file.
    private final class FileCandidate {
        let cipher: any StreamCipher
        let writer: any DownloadWriter
        var failure: String?
        init(cipher: any StreamCipher, writer: any DownloadWriter) {
            self.cipher = cipher
            self.writer = writer
        }
    }

    init(services: ClientServices, me: ClientIdentity, progress: (any TransferProgress)?) {
        self.services = services
        self.me = me
        self.progress = progress
    }

    func begin(_ header: PulledMessageHeader) async {
        self.header = header
        buffer = []
        refused = nil
        files = []
        received = 0
        let name = try? await services.state.contact(withID: header.sender)?.name
        entry = InboxEntry(id: header.id, senderID: header.sender, senderName: name ?? nil, type: header.type)
        switch header.kind {
        case nil:
            refused = "unknown message type \(header.type)"
        case .keyRequest, .symmetricKey, .text:
            if header.contentSize > Self.maxInMemoryContent {
                refused = "a \(header.contentSize)-byte \(header.type == 3 ? "text" : "key message") is larger than this client accepts"
            }
        case .file:
            await startFile(header, senderName: name ?? nil)
        }
    }

    func content(_ chunk: [UInt8]) async {
        guard refused == nil, let header else { return }
        if header.kind == .file {
            received += UInt64(chunk.count)
            for candidate in files where candidate.failure == nil {
                do {
                    try candidate.writer.write(try candidate.cipher.update(chunk))
                } catch {
                    candidate.failure = "\(error)"
                }
            }
            progress?.advance(to: received)
        } else {
            buffer.append(contentsOf: chunk)
        }
    }

    func end(error: ClientError?) async {
        guard var entry, let header else { return }
        if header.kind == .file { progress?.finish() }
        if let error {
            entry.error = error.description
        } else if let refused {
            entry.error = refused
        } else {
            do {
                try await finish(header, into: &entry)
            } catch let error as ClientError {
                entry.error = error.description
            } catch {
                entry.error = "\(error)"
            }
        }
        for candidate in files { candidate.writer.discard() }
        files = []
        buffer = []
        entries.append(entry)
        self.entry = nil
        self.header = nil
    }

    private func startFile(_ header: PulledMessageHeader, senderName: ClientName?) async {
        do {
            let keys = try await services.state.pairKeys(for: header.sender)
            guard !keys.isEmpty else {
                refused = ClientError.noPairKey(senderName?.value ?? "the sender \(header.sender)").description
                entry?.missingKey = true
                return
            }
            let base = Self.safeFileName(senderName?.value ?? header.sender.hex) + "-\(header.id)"
            for key in keys.prefix(Self.maxFileKeys) {
                let cipher = try services.crypto { try $0.makeDecryptor(key: key.bytes) }
                files.append(FileCandidate(cipher: cipher, writer: try services.files.createDownload(suggestedName: base)))
            }
            progress?.start(label: "receiving", total: UInt64(header.contentSize))
        } catch {
            refused = "\(error)"
        }
    }

    private func finish(_ header: PulledMessageHeader, into entry: inout InboxEntry) async throws {
        switch header.kind {
        case nil:
            return
        case .keyRequest:
            if !keyRequesters.contains(header.sender) { keyRequesters.append(header.sender) }
        case .symmetricKey:
            entry.keyIgnored = try await storeKey(from: header.sender)
        case .text:
            let keys = try await services.state.pairKeys(for: header.sender)
            guard !keys.isEmpty else {
                entry.missingKey = true
                throw ClientError.noPairKey(entry.senderName?.value ?? "the sender \(header.sender)")
            }
            entry.text = try PairKeyDecryption.text(buffer, keys: keys, crypto: services.crypto)
        case .file:
            entry.path = try finishFile()
        }
    }

    /// Opens a key message with our private key and applies `PairKeyPolicy`. Returns true
    /// when a key was already held and the received one did not become current.
    private func storeKey(from sender: ClientID) async throws -> Bool {
        let key = try services.crypto { try $0.unwrapKey(buffer, with: me.privateKey) }
        guard key.count == type(of: services.crypto).symmetricKeySize else {
            throw ClientError.unreadableMessage("the key message holds \(key.count) bytes, not a \(type(of: services.crypto).symmetricKeySize)-byte key")
        }
        let known = try await services.state.pairKeys(for: sender)
        switch PairKeyPolicy.decide(received: key, from: sender, known: known, me: me.id) {
        case .alreadyKnown:
            return true
        case .adopt:
            try await services.state.addPairKey(PairKey(bytes: key, origin: .received), for: sender, makeCurrent: true)
            return false
        case .keepAsOlder:
            try await services.state.addPairKey(PairKey(bytes: key, origin: .received), for: sender, makeCurrent: false)
            return true
        }
    }

    /// Ends every candidate's stream; the first whose padding checks out is kept.
    private func finishFile() throws -> String {
        var reasons: [String] = []
        let count = files.count
        for candidate in files {
            if let failure = candidate.failure {
                reasons.append(failure)
                continue
            }
            do {
                try candidate.writer.write(try candidate.cipher.finish())
                let path = try candidate.writer.commit()
                files.removeAll { $0 === candidate }
                return path
            } catch {
                reasons.append("\(error)")
            }
        }
        let tried = count == 1 ? "the pair key" : "any of the \(count) known pair keys"
        throw ClientError.unreadableMessage("the file does not decrypt with \(tried) (\(reasons.last ?? "no key"))")
    }

    /// A file name without path separators or a leading dot.
    static func safeFileName(_ text: String) -> String {
        var out = String(text.map { $0 == "/" || $0 == "\\" || $0 == "\0" ? "_" : $0 })
        if out.hasPrefix(".") { out = "_" + out.dropFirst() }
        return out.isEmpty ? "file" : out
    }
}
