import Foundation
import Testing

/// `sealpost send-file` and the files `inbox` saves, on v3 homes against a real
/// `sealpost serve` over real TLS: byte-identical files of every size on every store, hostile
/// names kept inside `downloads`, no overwrites, and tampered ciphertext refused.
@Suite("Client: files over protocol v3 with the sealpost CLI", .serialized, .timeLimit(.minutes(10)))
struct SecureCLIFileTests {
    /// `count` bytes that differ from file to file.
    static func bytes(_ count: Int, seed: UInt64) -> Data {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        var bytes = [UInt8](repeating: 0, count: count)
        for index in 0..<count {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            bytes[index] = UInt8(truncatingIfNeeded: state)
        }
        return Data(bytes)
    }

    /// The `file` events of `inbox --json` until `count` came or the deadline passed.
    static func files(_ cli: SecureCLIHarness, _ home: String, count: Int, timeout: Duration = .seconds(60)) async throws -> [[String: Any]] {
        var shown: [[String: Any]] = []
        let deadline = ContinuousClock.now + timeout
        while shown.count < count, ContinuousClock.now < deadline {
            let result = try await cli.run(home, "inbox", "--json")
            guard result.status == 0 else { throw TestSetupError("inbox \(home): \(result.stderr)") }
            for line in result.lines {
                guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { continue }
                if object["event"] as? String == "file" { shown.append(object) }
            }
        }
        return shown
    }

    /// The names in bob's downloads folder, hidden ones included.
    static func downloads(_ cli: SecureCLIHarness) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: cli.home("bob") + "/downloads")) ?? []).sorted()
    }

    @Test("files of 0 B, 1 B, 3 MiB and 40 MiB arrive byte-identical", arguments: StoreKind.available)
    func sizes(_ kind: StoreKind) async throws {
        try await SecureCLIHarness.with(kind) { cli in
            try await cli.register("alice")
            try await cli.register("bob")
            let sizes = [0, 1, 3 << 20, 40 << 20]
            for (index, size) in sizes.enumerated() {
                let name = "file-\(size).bin"
                let path = cli.root.appendingPathComponent(name).path
                let content = Self.bytes(size, seed: UInt64(index + 1))
                try content.write(to: URL(fileURLWithPath: path))
                let sent = try await cli.run("alice", "send-file", "bob", path)
                #expect(sent.status == 0, "\(sent.stderr)")
                #expect(sent.stdout.contains("file sent to bob (\(size) bytes"))
                let got = try await Self.files(cli, "bob", count: 1)
                try #require(got.count == 1)
                #expect(got[0]["name"] as? String == name && got[0]["from"] as? String == "alice")
                #expect(got[0]["size"] as? Int == size)
                let saved = try #require(got[0]["path"] as? String)
                #expect(saved == cli.home("bob") + "/downloads/" + name)
                #expect(try Data(contentsOf: URL(fileURLWithPath: saved)) == content)
            }
            #expect(Self.downloads(cli) == sizes.map { "file-\($0).bin" }.sorted())
            let again = try await cli.run("bob", "inbox", "--json")
            #expect(again.status == 0 && again.stdout.isEmpty)
            let history = try await cli.run("alice", "history", "bob", "--json")
            #expect(history.lines.count == sizes.count && history.lines.allSatisfy { $0.contains("\"type\": \"file\"") })
        }
    }

    @Test("hostile names land sanitized inside downloads; a second file of the same name does not overwrite the first")
    func hostileNames() async throws {
        try await SecureCLIHarness.with(.sqlite) { cli in
            try await cli.register("alice")
            try await cli.register("bob")
            let path = cli.root.appendingPathComponent("payload").path
            let names = ["../../etc/passwd", "a/b", "evil\u{1}\n\u{7F}name.txt", "..", "report.txt", "report.txt"]
            var saved: [String] = []
            for (index, name) in names.enumerated() {
                try Self.bytes(100 + index, seed: UInt64(index + 7)).write(to: URL(fileURLWithPath: path))
                let sent = try await cli.run("alice", ["send-file", "bob", path, "--file-name", name])
                #expect(sent.status == 0, "\(sent.stderr)")
                let got = try await Self.files(cli, "bob", count: 1)
                try #require(got.count == 1)
                let at = try #require(got[0]["path"] as? String)
                #expect(at.hasPrefix(cli.home("bob") + "/downloads/"))
                let leaf = String(at.dropFirst((cli.home("bob") + "/downloads/").count))
                #expect(!leaf.contains("/") && !leaf.contains("..") && !leaf.hasPrefix("."))
                #expect(!leaf.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F })
                #expect(try Data(contentsOf: URL(fileURLWithPath: at)) == Self.bytes(100 + index, seed: UInt64(index + 7)))
                saved.append(leaf)
            }
            #expect(saved == ["____etc_passwd", "a_b", "evilname.txt", "_", "report.txt", "report (1).txt"])
            #expect(Self.downloads(cli) == saved.sorted())
        }
    }

    @Test("a tampered attachment is refused in words, nothing is saved, and the message comes again")
    func tampered() async throws {
        try await SecureCLIHarness.with(.sqlite) { cli in
            try await cli.register("alice")
            try await cli.register("bob")
            let path = cli.root.appendingPathComponent("secret.bin").path
            let content = Self.bytes(3 << 20, seed: 99)
            try content.write(to: URL(fileURLWithPath: path))
            let sent = try await cli.run("alice", "send-file", "bob", path)
            #expect(sent.status == 0, "\(sent.stderr)")

            let folder = ServerProcess.sqlitePath(in: cli.root) + ".attachments"
            let stored = try #require(try FileManager.default.contentsOfDirectory(atPath: folder).first { $0.hasSuffix(".att") })
            let handle = try #require(FileHandle(forUpdatingAtPath: folder + "/" + stored))
            let at: UInt64 = 1_000_000
            try handle.seek(toOffset: at)
            let original = try #require(try handle.read(upToCount: 1)).first!
            try handle.seek(toOffset: at)
            try handle.write(contentsOf: [original ^ 0x40])
            try handle.close()

            let refused = try await cli.run("bob", "inbox", "--json")
            #expect(refused.status == 0, "\(refused.stderr)")
            #expect(refused.stdout.contains("\"event\": \"file-error\""))
            #expect(!refused.stdout.contains("\"event\": \"file\""))
            #expect(Self.downloads(cli).isEmpty)
            let words = try await cli.run("bob", "inbox")
            #expect(words.stderr.contains("was not saved") && words.stderr.contains("comes again"), "\(words.stderr)")
            #expect(Self.downloads(cli).isEmpty)

            // Repaired, the same message is received: it was never lost.
            let repair = try #require(FileHandle(forUpdatingAtPath: folder + "/" + stored))
            try repair.seek(toOffset: at)
            try repair.write(contentsOf: [original])
            try repair.close()
            let got = try await Self.files(cli, "bob", count: 1)
            try #require(got.count == 1)
            #expect(try Data(contentsOf: URL(fileURLWithPath: try #require(got[0]["path"] as? String))) == content)
        }
    }
    @Test("an upload cut by a server restart resumes where the server's bytes end, and the file arrives whole")
    func resumedUpload() async throws {
        try await SecureCLIHarness.with(.sqlite) { cli in
            try await cli.register("alice")
            try await cli.register("bob")
            let path = cli.root.appendingPathComponent("long.bin").path
            let content = Self.bytes(300 << 20, seed: 5)
            try content.write(to: URL(fileURLWithPath: path))
            let folder = ServerProcess.sqlitePath(in: cli.root) + ".attachments"
            async let sending = cli.run("alice", "send-file", "bob", path)
            // Cut once some of it is stored, well before the end.
            func stored() -> UInt64 {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
                return names.compactMap { try? FileManager.default.attributesOfItem(atPath: folder + "/" + $0)[.size] as? UInt64 }.max() ?? 0
            }
            let deadline = ContinuousClock.now + .seconds(60)
            while stored() < 20 << 20, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            let before = stored()
            #expect(before >= 20 << 20 && before < 300 << 20)
            try await cli.restart(samePorts: true)
            let sent = try await sending
            #expect(sent.status == 0, "\(sent.stderr)")
            let got = try await Self.files(cli, "bob", count: 1)
            try #require(got.count == 1)
            #expect(try Data(contentsOf: URL(fileURLWithPath: try #require(got[0]["path"] as? String))) == content)
        }
    }
    @Test("listen --json saves a pushed file and prints a file event; the menu's inbox saves one too")
    func listenAndMenu() async throws {
        try await SecureCLIHarness.with(.sqlite) { cli in
            try await cli.register("alice")
            try await cli.register("bob")
            let path = cli.root.appendingPathComponent("pushed.bin").path
            let content = Self.bytes(5 << 20, seed: 11)
            try content.write(to: URL(fileURLWithPath: path))
            let listener = try SecureListener(cli: cli, home: "bob")
            defer { listener.stop() }
            let sent = try await cli.run("alice", "send-file", "bob", path)
            #expect(sent.status == 0, "\(sent.stderr)")
            let line = try #require(try await listener.nextLine(timeout: .seconds(30)))
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(object["event"] as? String == "file" && object["name"] as? String == "pushed.bin")
            #expect(object["size"] as? Int == content.count)
            #expect(try Data(contentsOf: URL(fileURLWithPath: try #require(object["path"] as? String))) == content)
            listener.stop()

            let again = try await cli.run("alice", "send-file", "bob", path)
            #expect(again.status == 0, "\(again.stderr)")
            let menu = try await cli.run("bob", ["menu"], stdin: "4\n0\n")
            #expect(menu.status == 0, "\(menu.stderr)")
            let second = cli.home("bob") + "/downloads/pushed (1).bin"
            #expect(menu.stdout.contains("FILE: pushed.bin (\(content.count) bytes) saved to \(second)"), "\(menu.stdout)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: second)) == content)
        }
    }
    @Test("a pointer whose SHA-256 is not the ciphertext's is refused in words and nothing is saved")
    func wrongHash() async throws {
        try await SecureCLIHarness.with(.sqlite) { cli in
            try await cli.register("alice")
            try await cli.register("bob")
            let path = cli.root.appendingPathComponent("claimed.bin").path
            try Self.bytes(200_000, seed: 3).write(to: URL(fileURLWithPath: path))
            let sent = try await cli.run("alice", ["send-file", "bob", path], environment: ["SEALPOST_TEST_WRONG_ATTACHMENT_SHA256": "1"])
            #expect(sent.status == 0, "\(sent.stderr)")
            let refused = try await cli.run("bob", "inbox")
            #expect(refused.status == 0 && refused.stdout.isEmpty)
            #expect(refused.stderr.contains("SHA-256 does not match") && refused.stderr.contains("was not saved"), "\(refused.stderr)")
            #expect(Self.downloads(cli).isEmpty)
            let history = try await cli.run("bob", "history", "alice", "--json")
            #expect(history.stdout.isEmpty)
        }
    }
}
