import Foundation
import Testing

/// `sealpost inbox` on a v3 home against a real `sealpost serve` over real TLS: it leaves on
/// the server's NOTICE `caughtUp`, not on a silence; it resumes a file download cut by a crash
/// (SIGKILL) or by a server restart; and a file that keeps failing its checks is given up after
/// a bounded number of attempts, kept in the history as failed.
@Suite("Client: the v3 inbox (caughtUp, resumed downloads, bounded retries)", .serialized, .timeLimit(.minutes(10)))
struct SecureCLIInboxTests {
    /// Inbox runs whose silence fallback is far longer than the test's deadlines: each run that
    /// returns in time returned on `caughtUp`.
    static let noFallback = ["SEALPOST_TEST_INBOX_QUIET_MS": "600000"]

    static func events(_ result: SealpostBinary.Result) -> [[String: Any]] {
        result.lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    /// Runs `arguments` in `home`, failing the test when it does not end within `timeout`.
    static func run(_ cli: SecureCLIHarness, _ home: String, _ arguments: [String], environment: [String: String] = noFallback,
                    timeout: Duration = .seconds(120)) async throws -> SealpostBinary.Result {
        try await withThrowingTaskGroup(of: SealpostBinary.Result?.self) { group in
            group.addTask { try await cli.run(home, arguments, environment: environment) }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let result = first else {
                throw TestSetupError("\(arguments.joined(separator: " ")) in \(home) did not end within \(timeout)")
            }
            return result
        }
    }

    @Test("inbox leaves on caughtUp: an empty inbox at once, then every waiting message in one run", arguments: StoreKind.available)
    func leavesOnCaughtUp(_ kind: StoreKind) async throws {
        try await SecureCLIHarness.with(kind) { cli in
            try await cli.register("alice")
            try await cli.register("bob")
            let empty = try await Self.run(cli, "bob", ["inbox", "--json"], timeout: .seconds(60))
            #expect(empty.status == 0 && empty.stdout.isEmpty, "\(empty.stderr)")
            for index in 0..<5 { #expect(try await cli.run("alice", "send", "bob", "m\(index)").status == 0) }
            let all = try await Self.run(cli, "bob", ["inbox", "--json"], timeout: .seconds(60))
            #expect(all.status == 0, "\(all.stderr)")
            #expect(Self.events(all).compactMap { $0["text"] as? String } == (0..<5).map { "m\($0)" })
            // Acknowledged: the next run is empty, and leaves as soon.
            let after = try await Self.run(cli, "bob", ["inbox", "--json"], timeout: .seconds(60))
            #expect(after.status == 0 && after.stdout.isEmpty, "\(after.stderr)")
        }
    }

    @Test("an inbox killed (SIGKILL) in the middle of a file resumes it on the next run; the file arrives whole")
    func resumesAfterKill() async throws {
        try await SecureCLIHarness.with(.sqlite) { cli in
            try await cli.register("alice")
            try await cli.register("bob")
            let path = cli.root.appendingPathComponent("big.bin").path
            let content = SecureCLIFileTests.bytes(24 << 20, seed: 21)
            try content.write(to: URL(fileURLWithPath: path))
            #expect(try await cli.run("alice", "send-file", "bob", path).status == 0)

            let killed = try await Self.run(cli, "bob", ["inbox", "--json"], environment: ["SEALPOST_TEST_DIE_IN_DOWNLOAD_AT": "\(10 << 20)"])
            #expect(killed.status == SIGKILL)
            let partial = try #require(SecureCLIFileTests.downloads(cli).first { $0.hasPrefix(".partial-") })
            let kept = try #require(try FileManager.default.attributesOfItem(atPath: cli.home("bob") + "/downloads/" + partial)[.size] as? Int)
            #expect(kept >= 9 << 20 && kept < 24 << 20)

            let resumed = try await Self.run(cli, "bob", ["inbox", "--json"])
            #expect(resumed.status == 0)
            #expect(resumed.stderr.contains("resuming big.bin at "), "\(resumed.stderr)")
            let file = try #require(Self.events(resumed).first { $0["event"] as? String == "file" })
            #expect(try Data(contentsOf: URL(fileURLWithPath: try #require(file["path"] as? String))) == content)
            #expect(SecureCLIFileTests.downloads(cli) == ["big.bin"], "the partial file is gone")
        }
    }

    @Test("killed after a file was saved and before its message was kept, the rerun keeps the same file, not a second copy")
    func killedBeforeCommit() async throws {
        try await SecureCLIHarness.with(.sqlite) { cli in
            try await cli.register("alice")
            try await cli.register("bob")
            let path = cli.root.appendingPathComponent("once.bin").path
            let content = SecureCLIFileTests.bytes(3 << 20, seed: 23)
            try content.write(to: URL(fileURLWithPath: path))
            #expect(try await cli.run("alice", "send-file", "bob", path).status == 0)
            let killed = try await Self.run(cli, "bob", ["inbox", "--json"], environment: ["SEALPOST_TEST_DIE_BEFORE_COMMIT": "1"])
            #expect(killed.status == SIGKILL)
            #expect(SecureCLIFileTests.downloads(cli).contains("once.bin"))
            let rerun = try await Self.run(cli, "bob", ["inbox", "--json"])
            #expect(rerun.status == 0, "\(rerun.stderr)")
            let file = try #require(Self.events(rerun).first { $0["event"] as? String == "file" })
            #expect(file["path"] as? String == cli.home("bob") + "/downloads/once.bin")
            #expect(try Data(contentsOf: URL(fileURLWithPath: cli.home("bob") + "/downloads/once.bin")) == content)
            #expect(SecureCLIFileTests.downloads(cli) == ["once.bin"], "one copy, no partial file left")
        }
    }

    @Test("an inbox whose download is cut by a server restart reconnects and resumes it")
    func resumesAfterServerRestart() async throws {
        try await SecureCLIHarness.with(.sqlite) { cli in
            try await cli.register("alice")
            try await cli.register("bob")
            let path = cli.root.appendingPathComponent("cut.bin").path
            let content = SecureCLIFileTests.bytes(200 << 20, seed: 22)
            try content.write(to: URL(fileURLWithPath: path))
            #expect(try await cli.run("alice", "send-file", "bob", path).status == 0)

            async let receiving = Self.run(cli, "bob", ["inbox", "--json"])
            let folder = cli.home("bob") + "/downloads"
            func partialSize() -> Int {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
                return names.filter { $0.hasPrefix(".partial-") }
                    .compactMap { try? FileManager.default.attributesOfItem(atPath: folder + "/" + $0)[.size] as? Int }.max() ?? 0
            }
            let deadline = ContinuousClock.now + .seconds(60)
            while partialSize() < 20 << 20, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            let before = partialSize()
            #expect(before >= 20 << 20 && before < 200 << 20)
            try await cli.restart(samePorts: true)
            let received = try await receiving
            #expect(received.status == 0, "\(received.stderr)")
            let file = try #require(Self.events(received).first { $0["event"] as? String == "file" }, "\(received.stderr)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: try #require(file["path"] as? String))) == content)
        }
    }

    @Test("a file that fails its SHA-256 check is tried three times, then given up: acknowledged, failed in the history")
    func boundedAttempts() async throws {
        try await SecureCLIHarness.with(.sqlite) { cli in
            try await cli.register("alice")
            try await cli.register("bob")
            let path = cli.root.appendingPathComponent("claimed.bin").path
            try SecureCLIFileTests.bytes(200_000, seed: 3).write(to: URL(fileURLWithPath: path))
            let sent = try await cli.run("alice", ["send-file", "bob", path], environment: ["SEALPOST_TEST_WRONG_ATTACHMENT_SHA256": "1"])
            #expect(sent.status == 0, "\(sent.stderr)")
            #expect(try await cli.run("alice", "send", "bob", "after the file").status == 0)

            for attempt in 1...2 {
                let refused = try await Self.run(cli, "bob", ["inbox"])
                #expect(refused.status == 0, "\(refused.stderr)")
                // The text behind the file is not held up by it.
                #expect(refused.stdout.contains("after the file") == (attempt == 1), "\(refused.stdout)")
                #expect(refused.stderr.contains("SHA-256 does not match") && refused.stderr.contains("(attempt \(attempt) of 3)"), "\(refused.stderr)")
                #expect(refused.stderr.contains("comes again"))
            }
            let given = try await Self.run(cli, "bob", ["inbox", "--json"])
            #expect(given.status == 0, "\(given.stderr)")
            let events = Self.events(given)
            let failed = try #require(events.first { $0["event"] as? String == "file-failed" }, "\(given.stdout)")
            #expect(failed["name"] as? String == "claimed.bin")
            #expect((failed["error"] as? String)?.contains("SHA-256 does not match") == true)
            #expect(SecureCLIFileTests.downloads(cli).isEmpty)

            let history = try await cli.run("bob", "history", "alice")
            #expect(history.stdout.contains("FILE NOT RECEIVED: claimed.bin: the attachment's SHA-256 does not match"), "\(history.stdout)")
            let json = try await cli.run("bob", "history", "alice", "--json")
            #expect(json.stdout.contains("\"type\": \"file-failed\""))
            // Acknowledged: nothing comes again, and the session goes on both ways.
            let after = try await Self.run(cli, "bob", ["inbox", "--json"])
            #expect(after.status == 0 && after.stdout.isEmpty && after.stderr.isEmpty, "\(after.stdout) \(after.stderr)")
            #expect(try await cli.run("alice", "send", "bob", "still on").status == 0)
            #expect(try await cli.receive("bob", count: 1).first?["text"] as? String == "still on")
            #expect(try await cli.run("bob", "send", "alice", "and back").status == 0)
            #expect(try await cli.receive("alice", count: 1).first?["text"] as? String == "and back")
        }
    }
}
