import Foundation
import GRDB
import Testing

/// What a crash of the `sealpost` binary leaves on a v3 home, and the next run: a `send-file`
/// killed (SIGKILL) mid-upload resumes its attachment and sends the file once; a file changed
/// since starts over; a partial download left by a crash after its message was kept is
/// deleted; the per-message counters of failed file checks do not outlive their message.
@Suite("Client: v3 transfers across crashes of the sealpost binary", .serialized, .timeLimit(.minutes(10)))
struct SecureCLIResumeTests {
    /// `SELECT COUNT(*) FROM table WHERE condition` in the client database of `home`.
    static func count(_ cli: SecureCLIHarness, _ home: String, _ table: String, where condition: String = "1") throws -> Int {
        let queue = try DatabaseQueue(path: cli.home(home) + "/sealpost-v3.db")
        return try queue.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM \(table) WHERE \(condition)") ?? 0 }
    }

    /// The N of "resuming PATH at N of M bytes" on stderr.
    static func resumedAt(_ stderr: String, path: String) -> UInt64? {
        guard let range = stderr.range(of: "resuming \(path) at ") else { return nil }
        return stderr[range.upperBound...].split(separator: " ").first.flatMap { UInt64($0) }
    }

    @Test("send-file killed mid-upload: the rerun resumes from the server's offset and the recipient gets one message, byte-identical")
    func killedUploadResumes() async throws {
        try await SecureCLIHarness.with(.sqlite) { cli in
            try await cli.register("alice")
            try await cli.register("bob")
            let path = cli.root.appendingPathComponent("upload.bin").path
            let content = SecureCLIFileTests.bytes(24 << 20, seed: 31)
            try content.write(to: URL(fileURLWithPath: path))

            let killed = try await cli.run("alice", ["send-file", "bob", path], environment: ["SEALPOST_TEST_DIE_IN_UPLOAD_AT": "\(10 << 20)"])
            #expect(killed.status == SIGKILL)
            #expect(try Self.count(cli, "alice", "pending_upload") == 1)

            let rerun = try await cli.run("alice", "send-file", "bob", path)
            #expect(rerun.status == 0, "\(rerun.stderr)")
            let at = try #require(Self.resumedAt(rerun.stderr, path: path), "\(rerun.stderr)")
            #expect(at > 0 && at < UInt64(content.count), "resumed at \(at)")
            #expect(rerun.stderr.contains("of \(content.count + 16 * 384) bytes"), "\(rerun.stderr)")
            #expect(try Self.count(cli, "alice", "pending_upload") == 0, "the upload's record is deleted once sent")

            let got = try await SecureCLIFileTests.files(cli, "bob", count: 1)
            try #require(got.count == 1)
            #expect(try Data(contentsOf: URL(fileURLWithPath: try #require(got[0]["path"] as? String))) == content)
            let again = try await cli.run("bob", "inbox", "--json")
            #expect(again.status == 0 && again.stdout.isEmpty, "one message, not two: \(again.stdout)")
            #expect(SecureCLIFileTests.downloads(cli) == ["upload.bin"])
            let history = try await cli.run("alice", "history", "bob", "--json")
            #expect(history.lines.count == 1)
            // Sent: the same command starts a new upload, not a resumed one.
            let fresh = try await cli.run("alice", "send-file", "bob", path)
            #expect(fresh.status == 0 && !fresh.stderr.contains("resuming"), "\(fresh.stderr)")
        }
    }

    @Test("a file changed after its upload was cut starts over, said on stderr, and the new content arrives")
    func changedFileStartsOver() async throws {
        try await SecureCLIHarness.with(.sqlite) { cli in
            try await cli.register("alice")
            try await cli.register("bob")
            let path = cli.root.appendingPathComponent("changing.bin").path
            try SecureCLIFileTests.bytes(8 << 20, seed: 41).write(to: URL(fileURLWithPath: path))
            let killed = try await cli.run("alice", ["send-file", "bob", path], environment: ["SEALPOST_TEST_DIE_IN_UPLOAD_AT": "\(3 << 20)"])
            #expect(killed.status == SIGKILL)

            let changed = SecureCLIFileTests.bytes(9 << 20, seed: 42)
            try changed.write(to: URL(fileURLWithPath: path))
            let rerun = try await cli.run("alice", "send-file", "bob", path)
            #expect(rerun.status == 0, "\(rerun.stderr)")
            #expect(rerun.stderr.contains("\(path) changed since its upload began: starting over"), "\(rerun.stderr)")
            #expect(!rerun.stderr.contains("resuming"))

            let got = try await SecureCLIFileTests.files(cli, "bob", count: 1)
            try #require(got.count == 1)
            #expect(try Data(contentsOf: URL(fileURLWithPath: try #require(got[0]["path"] as? String))) == changed)
            #expect(try Self.count(cli, "alice", "pending_upload") == 0)
        }
    }

    @Test("an upload the server no longer has (expired) starts over, said on stderr; the file arrives once")
    func expiredUploadStartsOver() async throws {
        try await SecureCLIHarness.with(.sqlite) { cli in
            try await cli.register("alice")
            try await cli.register("bob")
            let path = cli.root.appendingPathComponent("late.bin").path
            let content = SecureCLIFileTests.bytes(8 << 20, seed: 45)
            try content.write(to: URL(fileURLWithPath: path))
            let killed = try await cli.run("alice", ["send-file", "bob", path], environment: ["SEALPOST_TEST_DIE_IN_UPLOAD_AT": "\(3 << 20)"])
            #expect(killed.status == SIGKILL)

            // Its TTL ran out: from then on the server answers noSuchAttachment (read afresh
            // by a restarted server).
            do {
                let server = try DatabaseQueue(path: ServerProcess.sqlitePath(in: cli.root))
                let changed = try await server.write { db in
                    try db.execute(sql: "UPDATE attachments SET expires_at = 1")
                    return db.changesCount
                }
                #expect(changed == 1)
            }
            try await cli.restart()
            let rerun = try await cli.run("alice", "send-file", "bob", path)
            #expect(rerun.status == 0, "\(rerun.stderr)")
            #expect(rerun.stderr.contains("the upload of \(path) expired on the server: starting over"), "\(rerun.stderr)")
            #expect(!rerun.stderr.contains("resuming"))

            let got = try await SecureCLIFileTests.files(cli, "bob", count: 1)
            try #require(got.count == 1)
            #expect(try Data(contentsOf: URL(fileURLWithPath: try #require(got[0]["path"] as? String))) == content)
            let again = try await cli.run("bob", "inbox", "--json")
            #expect(again.status == 0 && again.stdout.isEmpty)
            #expect(try Self.count(cli, "alice", "pending_upload") == 0)
        }
    }

    @Test("killed after a file's message was kept and before its partial download was deleted, the rerun shows it once and deletes the partial file")
    func partialLeftAfterCommit() async throws {
        try await SecureCLIHarness.with(.sqlite) { cli in
            try await cli.register("alice")
            try await cli.register("bob")
            let path = cli.root.appendingPathComponent("kept.bin").path
            let content = SecureCLIFileTests.bytes(3 << 20, seed: 43)
            try content.write(to: URL(fileURLWithPath: path))
            #expect(try await cli.run("alice", "send-file", "bob", path).status == 0)

            let killed = try await cli.run("bob", ["inbox", "--json"], environment: ["SEALPOST_TEST_DIE_BEFORE_ACK": "1"])
            #expect(killed.status == SIGKILL)
            let left = SecureCLIFileTests.downloads(cli)
            #expect(left.count == 2 && left.contains("kept.bin") && left.contains { $0.hasPrefix(".partial-") }, "\(left)")

            let rerun = try await cli.run("bob", "inbox", "--json")
            #expect(rerun.status == 0, "\(rerun.stderr)")
            let files = rerun.lines.filter { $0.contains("\"event\": \"file\"") }
            #expect(files.count == 1, "\(rerun.stdout)")
            #expect(SecureCLIFileTests.downloads(cli) == ["kept.bin"], "the partial file is gone")
            #expect(try Data(contentsOf: URL(fileURLWithPath: cli.home("bob") + "/downloads/kept.bin")) == content)
            let after = try await cli.run("bob", "inbox", "--json")
            #expect(after.status == 0 && after.stdout.isEmpty)
        }
    }

    @Test("a file's failed-check counter is deleted once its message is taken, and once it is given up")
    func attemptCountersDeleted() async throws {
        try await SecureCLIHarness.with(.sqlite) { cli in
            try await cli.register("alice")
            try await cli.register("bob")
            let counters = "name LIKE 'file_attempts_%'"
            let path = cli.root.appendingPathComponent("claimed.bin").path
            try SecureCLIFileTests.bytes(200_000, seed: 3).write(to: URL(fileURLWithPath: path))
            let wrong = try await cli.run("alice", ["send-file", "bob", path], environment: ["SEALPOST_TEST_WRONG_ATTACHMENT_SHA256": "1"])
            #expect(wrong.status == 0, "\(wrong.stderr)")
            for attempt in 1...2 {
                #expect(try await cli.run("bob", "inbox").status == 0)
                #expect(try Self.count(cli, "bob", "counter", where: counters) == 1, "attempt \(attempt) counted")
            }
            let given = try await cli.run("bob", "inbox", "--json")
            #expect(given.stdout.contains("\"event\": \"file-failed\""), "\(given.stdout)")
            #expect(try Self.count(cli, "bob", "counter", where: counters) == 0, "given up: forgotten")

            // A file that fails once (its ciphertext damaged on the server), then arrives.
            let good = cli.root.appendingPathComponent("repaired.bin").path
            let content = SecureCLIFileTests.bytes(3 << 20, seed: 44)
            try content.write(to: URL(fileURLWithPath: good))
            #expect(try await cli.run("alice", "send-file", "bob", good).status == 0)
            let folder = ServerProcess.sqlitePath(in: cli.root) + ".attachments"
            // The given-up attachment may still be on disk: this one is told by its size.
            let sealed = UInt64(content.count + 16 * 48)
            let stored = try #require(try FileManager.default.contentsOfDirectory(atPath: folder).first { name in
                name.hasSuffix(".att") && (try? FileManager.default.attributesOfItem(atPath: folder + "/" + name)[.size] as? UInt64) == sealed
            })
            let handle = try #require(FileHandle(forUpdatingAtPath: folder + "/" + stored))
            try handle.seek(toOffset: 1_000_000)
            let original = try #require(try handle.read(upToCount: 1)).first!
            try handle.seek(toOffset: 1_000_000)
            try handle.write(contentsOf: [original ^ 0x40])
            try handle.close()
            let refused = try await cli.run("bob", "inbox", "--json")
            #expect(refused.stdout.contains("\"event\": \"file-error\""), "\(refused.stdout)")
            #expect(try Self.count(cli, "bob", "counter", where: counters) == 1)
            let repair = try #require(FileHandle(forUpdatingAtPath: folder + "/" + stored))
            try repair.seek(toOffset: 1_000_000)
            try repair.write(contentsOf: [original])
            try repair.close()
            let got = try await SecureCLIFileTests.files(cli, "bob", count: 1)
            try #require(got.count == 1)
            #expect(try Data(contentsOf: URL(fileURLWithPath: try #require(got[0]["path"] as? String))) == content)
            #expect(try Self.count(cli, "bob", "counter", where: counters) == 0, "taken: forgotten")
        }
    }
}
