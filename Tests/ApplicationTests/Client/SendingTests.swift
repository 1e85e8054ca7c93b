import Adapters
@testable import Application
import Domain
import Testing

@Suite("Client: request-key, send-key, send, send-file")
struct SendingTests {
    @Test("a key request is an empty type-1 message to the contact")
    func requestKey() async throws {
        try await withPair { alice, bob, server in
            let sent = try await RequestKey(alice.services).run(name: "bob")
            #expect(sent.contact.id == (try bob.me.id))
            let sends = server.sends
            #expect(sends.count == 1)
            #expect(sends.first?.kind == .keyRequest && sends.first?.content == [])
            let (aliceID, bobID) = (try alice.me.id, try bob.me.id)
            #expect(sends.first?.to == bobID && sends.first?.from == aliceID)
            #expect(try await server.server.pullAll(try bob.me.id).map(\.envelope.id) == [sent.message])
        }
    }

    @Test("send-key with no key yet: a fresh key, stored as current and created here, wrapped to the contact's public key")
    func sendNewKey() async throws {
        try await withPair { alice, bob, server in
            let bobID = try bob.me.id
            _ = try await SendKey(alice.services).run(name: "bob")
            let keys = alice.state.pairKeys(for: bobID)
            #expect(keys.count == 1 && keys.first?.origin == .created)
            #expect(keys.first?.bytes.count == OpenSSLLegacyCrypto.symmetricKeySize)
            let wrapped = try #require(server.sends.last)
            #expect(wrapped.kind == .symmetricKey && wrapped.to == bobID)
            // Only bob's private key opens it, and it holds the stored key.
            #expect(try bob.crypto.unwrapKey(wrapped.content, with: try bob.me.privateKey) == keys.first?.bytes)
            #expect(throws: CryptoError.self) { try alice.crypto.unwrapKey(wrapped.content, with: try alice.me.privateKey) }
        }
    }

    @Test("send-key again resends the current key; no second key is made")
    func resendKey() async throws {
        try await withPair { alice, bob, server in
            let bobID = try bob.me.id
            _ = try await SendKey(alice.services).run(name: "bob")
            _ = try await SendKey(alice.services).run(name: "bob")
            let keys = alice.state.pairKeys(for: bobID)
            #expect(keys.count == 1)
            let wrapped = server.sends.filter { $0.kind == .symmetricKey }
            #expect(wrapped.count == 2)
            for message in wrapped {
                #expect(try bob.crypto.unwrapKey(message.content, with: try bob.me.privateKey) == keys.first?.bytes)
            }
            // The public key was fetched once and then remembered.
            #expect(server.requests.filter { if case .publicKey = $0 { true } else { false } }.count == 1)
        }
    }

    @Test("ensureKey returns the current key without sending anything")
    func ensureExisting() async throws {
        try await withPair { alice, bob, server in
            let bobID = try bob.me.id
            let key = PairKey(bytes: Array(repeating: 5, count: 16), origin: .received)
            alice.state.addPairKey(key, for: bobID, makeCurrent: true)
            #expect(try await SendKey(alice.services).ensureKey(for: bobID, me: try alice.me) == key.bytes)
            #expect(server.requests.isEmpty)
        }
    }

    @Test("the first text sends a key first, then the text under it: UTF-8 and a NUL, as the original")
    func firstText() async throws {
        try await withPair { alice, bob, server in
            let bobID = try bob.me.id
            _ = try await SendText(alice.services).run(name: "bob", text: "héllo")
            #expect(server.sends.map(\.kind) == [.symmetricKey, .text])
            let key = try #require(alice.state.pairKeys(for: bobID).first)
            let cipher = try alice.crypto.makeDecryptor(key: key.bytes)
            let plain = try cipher.update(server.sends[1].content) + cipher.finish()
            #expect(plain == Array("héllo".utf8) + [0])
            _ = try await SendText(alice.services).run(name: "bob", text: "again")
            #expect(server.sends.map(\.kind) == [.symmetricKey, .text, .text])
        }
    }

    @Test("send to an unknown name sends nothing")
    func unknownRecipient() async throws {
        try await withPair { alice, _, server in
            await #expect(throws: ClientError.unknownClient(name: "zoe")) {
                try await SendText(alice.services).run(name: "zoe", text: "hi")
            }
            #expect(server.sends.isEmpty)
        }
    }

    @Test("a file goes as one type-4 stream of the padded size, and bob decrypts it to the original bytes")
    func sendFile() async throws {
        try await withPair { alice, bob, server in
            let bytes = (0..<(EncryptingFileContent.chunkSize + 1000)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            alice.files.add("/data/report.pdf", bytes)
            let progress = RecordingProgress()
            let sent = try await SendFile(alice.services).run(name: "bob", path: "/data/report.pdf", progress: progress)
            #expect(sent.size == UInt64(bytes.count))
            let file = try #require(server.sends.last)
            #expect(file.kind == .file)
            #expect(UInt64(file.content.count) == EncryptingFileContent.ciphertextSize(of: UInt64(bytes.count)))
            #expect(alice.files.closed >= 1)
            #expect(progress.started.map(\.total) == [UInt64(bytes.count)])
            #expect(progress.advances.last == UInt64(bytes.count) && progress.finished == 1)
            let inbox = try await bob.inbox()
            #expect(inbox.failure == nil)
            #expect(inbox.entries.map(\.kind) == [.symmetricKey, .file])
            let path = try #require(inbox.entries.last?.path)
            #expect(bob.files.downloads[path] == bytes)
            // The sender was not a known contact yet: the file is named after its id.
            #expect(path == "downloads/\(try alice.me.id.hex)-\(sent.message)")
        }
    }

    @Test("a file that cannot be opened is a local-file error and nothing is sent")
    func missingFile() async throws {
        try await withPair { alice, _, server in
            await #expect(throws: ClientError.localFile(path: "/nope", reason: "no such file")) {
                try await SendFile(alice.services).run(name: "bob", path: "/nope")
            }
            #expect(server.requests.isEmpty)
        }
    }
}

@Suite("Client: EncryptingFileContent")
struct EncryptingFileContentTests {
    @Test("PKCS#7 always adds 1 to 16 bytes", arguments: [(0, 16), (1, 16), (15, 16), (16, 32), (17, 32), (1000, 1008)] as [(UInt64, UInt64)])
    func ciphertextSize(plain: UInt64, cipher: UInt64) {
        #expect(EncryptingFileContent.ciphertextSize(of: plain) == cipher)
    }

    @Test("reads the file in chunks, ends with the padded block, then nil; the reader is closed")
    func stream() async throws {
        let files = InMemoryFiles()
        let plain = (0..<(2 * EncryptingFileContent.chunkSize + 5)).map { UInt8(truncatingIfNeeded: $0) }
        files.add("f", plain)
        let crypto = OpenSSLLegacyCrypto()
        let key = try crypto.newSymmetricKey()
        let progress = RecordingProgress()
        let content = EncryptingFileContent(reader: try files.openForReading("f"), cipher: try crypto.makeEncryptor(key: key), progress: progress)
        var ciphertext: [UInt8] = []
        var pieces = 0
        while let piece = try await content.nextChunk() {
            ciphertext += piece
            pieces += 1
        }
        #expect(try await content.nextChunk() == nil)
        #expect(pieces == 4)
        #expect(UInt64(ciphertext.count) == EncryptingFileContent.ciphertextSize(of: UInt64(plain.count)))
        let decryptor = try crypto.makeDecryptor(key: key)
        #expect(try decryptor.update(ciphertext) + decryptor.finish() == plain)
        #expect(progress.advances == [UInt64(EncryptingFileContent.chunkSize), UInt64(2 * EncryptingFileContent.chunkSize), UInt64(plain.count)])
        #expect(progress.finished == 1 && files.closed == 1)
    }
}
