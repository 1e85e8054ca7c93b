import Adapters
import Application
import Domain
import Foundation
import NIOCore
import SealpostWire
import Testing

/// NOTICE `caughtUp` (docs/protocol-v3.md §6.3) over real TLS and every store: sent once per
/// session, after the deliveries of everything that waited, held back while the window is
/// full, and never again for what arrives later.
@Suite("secure caughtUp notice", .serialized)
struct SecureCaughtUpTests {
    /// The frames pushed so far, each a delivery's text or "caughtUp".
    static func trace(_ probe: V3Probe) -> [String] {
        probe.pushed.compactMap { message in
            switch message {
            case .delivery(let delivery): String(buffer: delivery.envelope)
            case .notice(.caughtUp): "caughtUp"
            default: nil
            }
        }
    }

    @Test("an empty inbox: caughtUp right after sign-in; a later message comes alone", arguments: StoreKind.available)
    func emptyInbox(_ kind: StoreKind) async throws {
        try await SecureAccountsTests.withServer(kind) { server, _ in
            let alice = try V3TestAccount("alice")
            let bob = try V3TestAccount("bob")
            let aliceID = try await SecureAccountsTests.probe(server) { try await $0.register(alice) }
            let bobID = try await SecureAccountsTests.probe(server) { try await $0.register(bob) }
            try await SecureAccountsTests.probe(server) { (probe: V3Probe) async throws in
                _ = try await probe.authenticate(bob, as: bobID)
                try await probe.pushes { _ in Self.trace(probe).contains("caughtUp") }
                #expect(Self.trace(probe) == ["caughtUp"])
                try await SecureAccountsTests.probe(server) { (sender: V3Probe) async throws in
                    _ = try await sender.authenticate(alice, as: aliceID)
                    _ = try await sender.call(.send(recipient: bobID, envelope: ByteBuffer(string: "later")))
                }
                _ = try await probe.deliveries(1)
                _ = try await probe.call(.ping)
                #expect(Self.trace(probe) == ["caughtUp", "later"], "no second caughtUp")
            }
        }
    }

    @Test("five waiting, a window of two: caughtUp only once all five were delivered, after them", arguments: StoreKind.available)
    func windowHoldsItBack(_ kind: StoreKind) async throws {
        var configuration = SecureServerConfiguration(host: "127.0.0.1", port: 0, ioThreads: 1)
        configuration.deliveryWindow = 2
        // A frame that never comes fails the test in 20 s, not the default 300.
        configuration.idleTimeoutSeconds = 20
        try await SecureAccountsTests.withServer(kind, configuration: configuration) { server, _ in
            let alice = try V3TestAccount("alice")
            let bob = try V3TestAccount("bob")
            let aliceID = try await SecureAccountsTests.probe(server) { try await $0.register(alice) }
            let bobID = try await SecureAccountsTests.probe(server) { try await $0.register(bob) }
            let texts = ["1", "2", "3", "4", "5"]
            try await SecureAccountsTests.probe(server) { (sender: V3Probe) async throws in
                _ = try await sender.authenticate(alice, as: aliceID)
                for text in texts { _ = try await sender.call(.send(recipient: bobID, envelope: ByteBuffer(string: text))) }
            }
            try await SecureAccountsTests.probe(server) { (probe: V3Probe) async throws in
                _ = try await probe.authenticate(bob, as: bobID)
                // Acknowledge whatever came (an ACK's answer may bring more), until caughtUp came
                // and everything delivered is acknowledged.
                var acknowledged = 0
                while true {
                    let delivered = probe.delivered
                    if delivered.count > acknowledged {
                        // The window is full until an ACK: no more than 2 unacknowledged at once.
                        #expect(delivered.count - acknowledged <= 2)
                        _ = try await probe.call(.ack(delivered[acknowledged...].map(\.messageID)))
                        acknowledged = delivered.count
                        continue
                    }
                    if Self.trace(probe).contains("caughtUp") { break }
                    try await probe.pushes { _ in probe.delivered.count > acknowledged || Self.trace(probe).contains("caughtUp") }
                }
                #expect(Self.trace(probe) == texts + ["caughtUp"])
            }
            // A new message, waiting before the session: delivered before caughtUp.
            try await SecureAccountsTests.probe(server) { (sender: V3Probe) async throws in
                _ = try await sender.authenticate(alice, as: aliceID)
                _ = try await sender.call(.send(recipient: bobID, envelope: ByteBuffer(string: "6")))
            }
            try await SecureAccountsTests.probe(server) { (probe: V3Probe) async throws in
                _ = try await probe.authenticate(bob, as: bobID)
                try await probe.pushes { _ in Self.trace(probe).contains("caughtUp") }
                #expect(Self.trace(probe) == ["6", "caughtUp"])
            }
            // Delivered again: it was not acknowledged. The ended session gives its lease back
            // a moment after it closed; until then it is not waiting, and caughtUp may come first.
            try await SecureAccountsTests.probe(server) { (probe: V3Probe) async throws in
                _ = try await probe.authenticate(bob, as: bobID)
                try await probe.pushes { _ in Self.trace(probe).contains("caughtUp") && Self.trace(probe).contains("6") }
                #expect(Self.trace(probe).sorted() == ["6", "caughtUp"])
            }
        }
    }
}
