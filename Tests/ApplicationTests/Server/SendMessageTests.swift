import Adapters
@testable import Application
import Domain
import Testing

@Suite("SendMessage")
struct SendMessageTests {
    static func header(_ sender: ClientID, _ recipient: ClientID, _ kind: MessageKind = .text, size: UInt32) -> MessageHeader {
        MessageHeader(sender: sender, recipient: recipient, kind: kind, contentSize: size)
    }

    @Test("an unregistered sender is refused with unknownClient")
    func unknownSender() async throws {
        try await withServer { server in
            let bob = try await server.register("bob")
            let stranger = ClientID(high: 1, low: 2)
            await #expect(throws: DomainError.unknownClient(stranger)) {
                try await server.useCases.send.admit(Self.header(stranger, bob, size: 1))
            }
        }
    }

    @Test("an unregistered recipient is refused with unknownRecipient")
    func unknownRecipient() async throws {
        try await withServer { server in
            let alice = try await server.register("alice")
            let stranger = ClientID(high: 1, low: 2)
            await #expect(throws: DomainError.unknownRecipient(stranger)) {
                try await server.useCases.send.admit(Self.header(alice, stranger, size: 1))
            }
        }
    }

    @Test("content up to the payload limit is admitted, one byte more is refused with both sizes")
    func sizeLimit() async throws {
        try await withServer(limits: ServerLimits(maxPayload: 1000, inlineContentLimit: 100)) { server in
            let alice = try await server.register("alice")
            try await server.useCases.send.admit(Self.header(alice, alice, .file, size: 1000))
            await #expect(throws: DomainError.payloadTooLarge(declared: 1001, limit: 1000)) {
                try await server.useCases.send.admit(Self.header(alice, alice, .file, size: 1001))
            }
        }
    }

    @Test("the size is checked before anyone is looked up: a stranger's oversized send is refused for its size")
    func sizeFirst() async throws {
        try await withServer(limits: ServerLimits(maxPayload: 10)) { server in
            let stranger = ClientID(high: 1, low: 2)
            await #expect(throws: DomainError.payloadTooLarge(declared: 11, limit: 10)) {
                try await server.useCases.send.admit(Self.header(stranger, stranger, size: 11))
            }
        }
    }

    @Test("a key request must carry no content; every other kind may be empty or not")
    func kindRules() async throws {
        try await withServer { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            try await server.useCases.send.admit(Self.header(alice, bob, .keyRequest, size: 0))
            await #expect(throws: DomainError.invalidMessage("a key request carries no content, this one declares 1 bytes")) {
                try await server.useCases.send.admit(Self.header(alice, bob, .keyRequest, size: 1))
            }
            for kind in [MessageKind.symmetricKey, .text, .file] {
                try await server.useCases.send.admit(Self.header(alice, bob, kind, size: 0))
                try await server.useCases.send.admit(Self.header(alice, bob, kind, size: 128))
            }
        }
    }

    @Test("a client may send to itself")
    func toSelf() async throws {
        try await withServer { server in
            let alice = try await server.register("alice")
            try await server.send(.text, [1, 2], from: alice, to: alice)
            #expect(try await server.pullAll(alice).map(\.content) == [[1, 2]])
        }
    }

    @Test("delivered messages wait for their recipient only, with ascending ids, sender, kind and content")
    func deliver() async throws {
        try await withServer { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let carol = try await server.register("carol")
            let first = try await server.send(.text, Array("one".utf8), from: alice, to: bob)
            try await server.send(.text, Array("for carol".utf8), from: alice, to: carol)
            let second = try await server.send(.keyRequest, [], from: carol, to: bob)
            #expect(first < second)
            let pulled = try await server.pullAll(bob)
            #expect(pulled.map(\.envelope.id) == [first, second])
            #expect(pulled.map(\.envelope.sender) == [alice, carol])
            #expect(pulled.map(\.envelope.kind) == [.text, .keyRequest])
            #expect(pulled.map(\.content) == [Array("one".utf8), []])
            #expect(try await server.pullAll(carol).map(\.content) == [Array("for carol".utf8)])
        }
    }

    @Test("content that disagrees with the declared size is refused with sizeMismatch and not stored")
    func deliverSizeMismatch() async throws {
        try await withServer { server in
            let alice = try await server.register("alice")
            let header = Self.header(alice, alice, size: 4)
            try await server.useCases.send.admit(header)
            await #expect(throws: StoreError.sizeMismatch(declared: 4, written: 3)) {
                try await server.useCases.send.deliver(header, content: [1, 2, 3])
            }
            #expect(server.store.storedMessages == 0)
        }
    }

    @Test("a streamed upload is invisible until committed, then pulled whole")
    func upload() async throws {
        try await withServer(limits: ServerLimits(maxPayload: 1 << 20, inlineContentLimit: 16)) { server in
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let content = (0..<5000).map { UInt8(truncatingIfNeeded: $0 * 7) }
            let header = Self.header(alice, bob, .file, size: UInt32(content.count))
            try await server.useCases.send.admit(header)
            let upload = try await server.useCases.send.beginUpload(header)
            try await upload.write(Array(content[..<3000]))
            #expect(try await server.pullAll(bob).isEmpty, "visible before commit")
            try await upload.write(Array(content[3000...]))
            let id = try await upload.commit()
            let pulled = try await server.pullAll(bob)
            #expect(pulled.map(\.envelope.id) == [id])
            #expect(pulled.first?.content == content)
        }
    }

    @Test("an aborted upload stores nothing and frees its storage")
    func abortedUpload() async throws {
        try await withServer { server in
            let alice = try await server.register("alice")
            let header = Self.header(alice, alice, .file, size: 100)
            let upload = try await server.useCases.send.beginUpload(header)
            try await upload.write(Array(repeating: 1, count: 50))
            #expect(server.store.pendingUploads == 1)
            await upload.abort()
            #expect(server.store.pendingUploads == 0)
            #expect(try await server.pullAll(alice).isEmpty)
        }
    }
}
