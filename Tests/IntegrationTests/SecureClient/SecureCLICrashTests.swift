import Foundation
import Testing

/// Crash safety and concurrency of the v3 client's state: a `sealpost inbox` killed (SIGKILL)
/// between its commit and its ACK loses nothing and shows nothing twice; two processes sending
/// from one home at once keep one ratchet that the peer follows.
@Suite("Client: v3 state, crash safety and concurrent processes", .serialized, .timeLimit(.minutes(5)))
struct SecureCLICrashTests {
    @Test("killed right after the commit and before the ACK, the rerun shows the message once and acknowledges it", arguments: [StoreKind.sqlite])
    func killedBeforeAcknowledgement(_ kind: StoreKind) async throws {
        try await SecureCLIHarness.with(kind) { cli in
            try await cli.register("alice")
            try await cli.register("bob")
            #expect(try await cli.run("alice", "send", "bob", "survives a crash").status == 0)

            // The hook kills the process with SIGKILL once the delivery is committed, before
            // its ACK: it prints nothing and dies by the signal.
            let killed = try await cli.run("bob", ["inbox", "--json"], environment: ["SEALPOST_TEST_DIE_BEFORE_ACK": "1"])
            #expect(killed.status == SIGKILL)
            #expect(killed.stdout.isEmpty)

            // The rerun shows it once (from the history) and acknowledges the redelivery silently.
            let rerun = try await cli.run("bob", "inbox", "--json")
            #expect(rerun.status == 0, "\(rerun.stderr)")
            let shown = rerun.lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            #expect(shown.count == 1 && shown.first?["text"] as? String == "survives a crash")
            #expect(rerun.stderr.isEmpty)

            // Acknowledged: a server restart delivers nothing more, and nothing is shown again.
            try await cli.restart()
            let after = try await cli.run("bob", "inbox", "--json")
            #expect(after.status == 0 && after.stdout.isEmpty && after.stderr.isEmpty)
            let history = try await cli.run("bob", "history", "alice", "--json")
            #expect(history.lines.count == 1)

            // The session goes on: bob answers, alice reads it.
            #expect(try await cli.run("bob", "send", "alice", "still here").status == 0)
            let got = try await cli.receive("alice", count: 1)
            #expect(got.first?["text"] as? String == "still here")
        }
    }

    @Test("killed after sealing and before the SEND, the message is sent by the next command, once, in order", arguments: [StoreKind.sqlite, .postgres])
    func killedBeforeSend(_ kind: StoreKind) async throws {
        try await SecureCLIHarness.with(kind) { cli in
            try await cli.register("alice")
            try await cli.register("bob")
            #expect(try await cli.run("alice", "send", "bob", "first").status == 0)
            // The ratchet step and the envelope are committed, then the process dies (SIGKILL).
            let killed = try await cli.run("alice", ["send", "bob", "sealed before the crash"], environment: ["SEALPOST_TEST_DIE_BEFORE_SEND": "1"])
            #expect(killed.status == SIGKILL)
            let before = try await cli.run("alice", "history", "bob", "--json")
            #expect(before.lines.count == 1)

            // The next command that reaches the server sends it first, then its own message.
            let next = try await cli.run("alice", "send", "bob", "after the crash")
            #expect(next.status == 0 && next.stderr.isEmpty, "\(next.stderr)")
            let got = try await cli.receive("bob", count: 3)
            #expect(got.compactMap { $0["text"] as? String } == ["first", "sealed before the crash", "after the crash"])
            let history = try await cli.run("alice", "history", "bob", "--json")
            #expect(history.lines.count == 3)
            // Nothing more comes, and the outbox is empty: another command sends nothing again.
            #expect(try await cli.run("alice", "send", "bob", "last").status == 0)
            #expect(try await cli.receive("bob", count: 1).compactMap { $0["text"] as? String } == ["last"])
        }
    }

    @Test("killed after the server stored the SEND and before the history commit: sent again, shown once, the copy dropped as a duplicate")
    func killedAfterSend() async throws {
        try await SecureCLIHarness.with(.sqlite) { cli in
            try await cli.register("alice")
            try await cli.register("bob")
            let killed = try await cli.run("alice", ["send", "bob", "stored, then the crash"], environment: ["SEALPOST_TEST_DIE_AFTER_SEND": "1"])
            #expect(killed.status == SIGKILL)
            #expect(try await cli.run("alice", "history", "bob", "--json").lines.isEmpty)
            // Alice's next command sends the same envelope again: the server stores a second copy.
            #expect(try await cli.run("alice", "send", "bob", "next").status == 0)
            let history = try await cli.run("alice", "history", "bob", "--json")
            #expect(history.lines.count == 2)

            // Bob sees each text once; the second copy is reported as a duplicate and dropped.
            let inbox = try await cli.run("bob", "inbox", "--json")
            #expect(inbox.status == 0, "\(inbox.stderr)")
            let events = inbox.lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            let texts = events.filter { $0["event"] as? String == "message" }.compactMap { $0["text"] as? String }
            #expect(texts == ["stored, then the crash", "next"])
            #expect(events.filter { $0["event"] as? String == "duplicate" }.count == 1)
            #expect(try await cli.run("bob", "history", "alice", "--json").lines.count == 2)
        }
    }

    @Test("two processes sending from one home at once: the peer decrypts every message")
    func twoProcessesOneHome() async throws {
        try await SecureCLIHarness.with(.sqlite) { cli in
            try await cli.register("alice")
            try await cli.register("bob")
            let perProcess = 8
            try await withThrowingTaskGroup(of: Void.self) { group in
                for process in 0..<2 {
                    group.addTask {
                        for index in 0..<perProcess {
                            let sent = try await cli.run("alice", "send", "bob", "p\(process) m\(index)")
                            #expect(sent.status == 0, "\(sent.stderr)")
                        }
                    }
                }
                try await group.waitForAll()
            }
            let got = try await cli.receive("bob", count: 2 * perProcess)
            let expected = Set((0..<2).flatMap { process in (0..<perProcess).map { "p\(process) m\($0)" } })
            #expect(Set(got.compactMap { $0["text"] as? String }) == expected)
            #expect(got.count == 2 * perProcess)
            let history = try await cli.run("alice", "history", "bob", "--json")
            #expect(history.lines.count == 2 * perProcess)
        }
    }
}
