import Foundation
import Testing

/// The built `sealpost` binary on v3 homes against a real `sealpost serve` over real TLS, on
/// every store: texts both ways with server restarts between the steps, three users, `listen`,
/// safety numbers, history, and the default of `register` on each kind of home.
@Suite("Client: the sealpost CLI on protocol v3", .serialized, .timeLimit(.minutes(5)))
struct SecureCLITests {
    static func text(_ count: Int, _ seed: Character) -> String {
        String((0..<count).map { index in index % 61 == 60 ? " " : seed })
    }

    @Test("two users exchange 1 B, 5,000 B and 60 KiB texts, with server restarts between the steps", arguments: StoreKind.available)
    func exchange(_ kind: StoreKind) async throws {
        try await SecureCLIHarness.with(kind) { cli in
            let aliceID = try await cli.register("alice")
            let bobID = try await cli.register("bob")
            #expect(aliceID.count == 32 && bobID.count == 32 && aliceID != bobID)
            let mode = try FileManager.default.attributesOfItem(atPath: cli.home("alice") + "/sealpost-v3.db")[.posixPermissions] as? Int
            #expect(mode == 0o600)
            #expect(!FileManager.default.fileExists(atPath: cli.home("alice") + "/me.info"))

            let whoami = try await cli.run("alice", "whoami")
            #expect(whoami.stdout == "alice \(aliceID)\n")
            let list = try await cli.run("alice", "list", "--json")
            #expect(list.status == 0)
            let listed = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: String]])
            #expect(listed == [["id": bobID, "name": "bob"]])

            let restarts = kind != .memory
            let small = "x", medium = Self.text(5_000, "m"), large = Self.text(60 * 1024, "L")

            let sent = try await cli.run("alice", "send", "bob", small)
            #expect(sent.status == 0, "\(sent.stderr)")
            if restarts { try await cli.restart() }
            var got = try await cli.receive("bob", count: 1)
            #expect(got.map { $0["text"] as? String } == [small])
            #expect(got.first?["from"] as? String == "alice" && got.first?["from_id"] as? String == aliceID)

            #expect(try await cli.run("bob", "send", "alice", medium).status == 0)
            if restarts { try await cli.restart() }
            got = try await cli.receive("alice", count: 1)
            #expect(got.map { $0["text"] as? String } == [medium])

            let big = try await cli.run("alice", "send", "bob", large)
            #expect(big.status == 0, "\(big.stderr)")
            if restarts { try await cli.restart() }
            got = try await cli.receive("bob", count: 1)
            #expect(got.map { $0["text"] as? String } == [large])

            // Nothing is shown twice.
            let again = try await cli.run("bob", "inbox", "--json")
            #expect(again.status == 0 && again.stdout.isEmpty)

            // Safety numbers agree; history keeps both directions.
            let aliceSide = try await cli.run("alice", "safety-number", "bob")
            let bobSide = try await cli.run("bob", "safety-number", "alice")
            #expect(aliceSide.status == 0 && aliceSide.stdout == bobSide.stdout)
            let groups = aliceSide.stdout.trimmingCharacters(in: .newlines).split(separator: " ")
            #expect(groups.count == 12 && groups.allSatisfy { $0.count == 5 && $0.allSatisfy(\.isNumber) })

            let history = try await cli.run("bob", "history", "alice", "--json")
            let entries = history.lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            #expect(entries.map { $0["direction"] as? String } == ["received", "sent", "received"])
            #expect(entries.map { $0["text"] as? String } == [small, medium, large])

            // Verify with the number; a wrong number is refused.
            let wrong = try await cli.run("bob", "verify", "alice", String(repeating: "1", count: 60))
            #expect(wrong.status == 1 && wrong.stderr.contains("does not match"))
            let verified = try await cli.run("bob", ["verify", "alice"] + groups.map(String.init))
            #expect(verified.status == 0, "\(verified.stderr)")
            let contacts = try await cli.run("bob", "contacts", "--json")
            let listedContacts = try #require(try JSONSerialization.jsonObject(with: Data(contacts.stdout.utf8)) as? [[String: Any]])
            #expect(listedContacts.count == 1)
            #expect(listedContacts.first?["name"] as? String == "alice" && listedContacts.first?["verified"] as? Bool == true)
            #expect(listedContacts.first?["key_changed"] as? Bool == false)
        }
    }

    @Test("three users each write to the two others")
    func threeUsers() async throws {
        try await SecureCLIHarness.with(.sqlite) { cli in
            let names = ["ann", "ben", "cat"]
            for name in names { try await cli.register(name) }
            for from in names {
                for to in names where to != from {
                    let sent = try await cli.run(from, "send", to, "\(from) to \(to)")
                    #expect(sent.status == 0, "\(sent.stderr)")
                }
            }
            let file = try await cli.run("ann", "send-file", "ben", "/no/such/file")
            #expect(file.status == 1 && file.stderr.hasPrefix("sealpost: cannot read /no/such/file"), "\(file.stderr)")
            for to in names {
                let got = try await cli.receive(to, count: 2)
                #expect(Set(got.compactMap { $0["text"] as? String }) == Set(names.filter { $0 != to }.map { "\($0) to \(to)" }))
            }
        }
    }

    @Test("both users write first at once (two sessions begun): every message opens, and the conversation settles on one session")
    func glare() async throws {
        try await SecureCLIHarness.with(.sqlite) { cli in
            try await cli.register("alice")
            try await cli.register("bob")
            #expect(try await cli.run("alice", "send", "bob", "a1").status == 0)
            #expect(try await cli.run("bob", "send", "alice", "b1").status == 0)
            #expect(try await cli.receive("bob", count: 1).compactMap { $0["text"] as? String } == ["a1"])
            #expect(try await cli.receive("alice", count: 1).compactMap { $0["text"] as? String } == ["b1"])
            for round in 2...4 {
                #expect(try await cli.run("alice", "send", "bob", "a\(round)").status == 0)
                #expect(try await cli.run("bob", "send", "alice", "b\(round)").status == 0)
                let toBob = try await cli.receive("bob", count: 1)
                #expect(toBob.compactMap { $0["text"] as? String } == ["a\(round)"], "round \(round)")
                let toAlice = try await cli.receive("alice", count: 1)
                #expect(toAlice.compactMap { $0["text"] as? String } == ["b\(round)"], "round \(round)")
            }
        }
    }

    @Test("listen --json prints a pushed message as one JSON line")
    func listen() async throws {
        try await SecureCLIHarness.with(.memory) { cli in
            try await cli.register("alice")
            try await cli.register("bob")
            let listener = try SecureListener(cli: cli, home: "bob")
            defer { listener.stop() }
            // Wait until the session is open (authenticated) before the message is sent: a
            // message stored before would be pushed too, so this only keeps the test honest.
            let sent = try await cli.run("alice", "send", "bob", "pushed to you")
            #expect(sent.status == 0, "\(sent.stderr)")
            let line = try #require(try await listener.nextLine(timeout: .seconds(20)))
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(object["event"] as? String == "message")
            #expect(object["text"] as? String == "pushed to you")
            #expect(object["from"] as? String == "alice")
        }
    }

    @Test("menu on a v3 home: the clients list, a text sent, the inbox, safety number, contacts and history")
    func menu() async throws {
        try await SecureCLIHarness.with(.sqlite) { cli in
            let aliceID = try await cli.register("alice")
            try await cli.register("bob")
            let alice = try await cli.run("alice", ["menu"], stdin: "2\n5\nbob\nhello from the menu\n9\n0\n")
            #expect(alice.status == 0, "\(alice.stderr)")
            #expect(alice.stdout.hasPrefix("Server configuration: 127.0.0.1:\(cli.securePort)\nClient ID: \(aliceID)\nClient name: alice\n"))
            #expect(alice.stdout.contains("* Clients:\nbob\n"))
            #expect(alice.stdout.contains("Enter client name: Enter message: Message sent\n"))
            #expect(alice.stdout.contains("* Contacts:\nbob unverified\n"))
            #expect(alice.stdout.hasSuffix("0) Exit client\n? "))

            var shown = ""
            let received = try await eventually(timeout: .seconds(30)) {
                let bob = try await cli.run("bob", ["menu"], stdin: "4\n0\n")
                #expect(bob.status == 0, "\(bob.stderr)")
                shown += bob.stdout
                return shown.contains("From: alice\nContent:\nhello from the menu\n-----<EOM>-----\n")
            }
            #expect(received)
            let bob = try await cli.run("bob", ["menu"], stdin: "6\nalice\n10\nalice\n1\n77\nx\n0\n")
            let number = try await cli.run("alice", "safety-number", "bob")
            #expect(bob.stdout.contains("Safety number: \(number.stdout)"))
            #expect(bob.stdout.contains("From: alice\nContent:\nhello from the menu\n-----<EOM>-----\n"))
            #expect(bob.stdout.contains("ERROR: Client already registered\n"))
            #expect(bob.stdout.contains("error: unknown option 77\n") && bob.stdout.contains("error: stoi\n"))
        }
    }

    @Test("listen keeps receiving across a server restart (it reconnects), each message printed once")
    func listenAcrossRestart() async throws {
        try await SecureCLIHarness.with(.sqlite) { cli in
            try await cli.register("alice")
            try await cli.register("bob")
            let listener = try SecureListener(cli: cli, home: "bob")
            defer { listener.stop() }
            #expect(try await cli.run("alice", "send", "bob", "before the restart").status == 0)
            let first = try #require(try await listener.nextLine(timeout: .seconds(20)))
            #expect(first.contains("\"text\": \"before the restart\""))
            try await cli.restart(samePorts: true)
            #expect(try await cli.run("alice", "send", "bob", "after the restart").status == 0)
            let second = try #require(try await listener.nextLine(timeout: .seconds(30)))
            #expect(second.contains("\"text\": \"after the restart\""))
        }
    }

    @Test("register makes a v3 account by default; --legacy, a home with me.info or a v2 server named keep the original's identity")
    func registerDefaults() async throws {
        try await SecureCLIHarness.with(.memory) { cli in
            let legacyPort = cli.server.port
            // --legacy against the v2 port.
            let legacy = try await SealpostBinary.run(
                ["register", "dora", "--legacy", "--home", cli.home("dora"), "--server", "127.0.0.1:\(legacyPort)"], directory: cli.root)
            #expect(legacy.status == 0, "\(legacy.stderr)")
            #expect(FileManager.default.fileExists(atPath: cli.home("dora") + "/me.info"))
            #expect(!FileManager.default.fileExists(atPath: cli.home("dora") + "/sealpost-v3.db"))
            // A v2 server named, no verification option: the original's behaviour.
            let named = try await SealpostBinary.run(
                ["register", "eve", "--home", cli.home("eve"), "--server", "127.0.0.1:\(legacyPort)"], directory: cli.root)
            #expect(named.status == 0 && FileManager.default.fileExists(atPath: cli.home("eve") + "/me.info"))
            // The legacy commands still work there.
            let whoami = try await SealpostBinary.run(["whoami", "--home", cli.home("eve"), "--server", "127.0.0.1:\(legacyPort)"], directory: cli.root)
            #expect(whoami.stdout.hasPrefix("eve "))
            // v3 with trust on first use: known_servers records the fingerprint.
            let tofu = try await SealpostBinary.run(
                ["register", "fay", "--v3", "--home", cli.home("fay"), "--server", "127.0.0.1:\(cli.securePort)"], directory: cli.root)
            #expect(tofu.status == 0, "\(tofu.stderr)")
            let known = try String(contentsOfFile: cli.home("fay") + "/known_servers", encoding: .utf8)
            #expect(known.contains(cli.fingerprint))
            // A v3 home stays one.
            for extra in [["--v3"], ["--legacy"]] {
                let again = try await SealpostBinary.run(
                    ["register", "fay2", "--home", cli.home("fay"), "--server", "127.0.0.1:\(cli.securePort)"] + extra, directory: cli.root)
                #expect(again.status == 1 && again.stderr.split(separator: "\n").count == 1)
            }
            #expect(!FileManager.default.fileExists(atPath: cli.home("fay") + "/me.info"))
            // A wrong pinned fingerprint: one line, in words.
            let wrong = try await SealpostBinary.run(
                ["whoami", "--home", cli.home("fay")], directory: cli.root)
            #expect(wrong.stdout.hasPrefix("fay "))
            let untrusted = try await SealpostBinary.run(
                ["list", "--home", cli.home("fay"), "--server", "127.0.0.1:\(cli.securePort)", "--server-fingerprint", String(repeating: "ab", count: 32)],
                directory: cli.root)
            #expect(untrusted.status == 1)
            #expect(untrusted.stderr.hasPrefix("sealpost: server not trusted") && untrusted.stderr.split(separator: "\n").count == 1)
        }
    }
}

/// A `sealpost listen --json` process whose output lines are read as they come.
final class SecureListener: @unchecked Sendable {
    private let process = ChildProcess()
    private let output = Pipe()

    init(cli: SecureCLIHarness, home: String) throws {
        process.executableURL = URL(fileURLWithPath: SealpostBinary.path)
        process.arguments = ["listen", "--json", "--home", cli.home(home), "--server", "127.0.0.1:\(cli.securePort)", "--server-fingerprint", cli.fingerprint]
        process.environment = ["HOME": cli.root.path, "PATH": "/usr/bin:/bin"]
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    /// The next line written, or nil when none came before `timeout` (the process is then killed).
    func nextLine(timeout: Duration) async throws -> String? {
        let handle = output.fileHandleForReading
        let pid = process.processIdentifier
        let watchdog = Task {
            try await Task.sleep(for: timeout)
            kill(pid, SIGKILL)
        }
        defer { watchdog.cancel() }
        let line = await PipeReader.firstLine(handle)
        return line.isEmpty ? nil : line.trimmingCharacters(in: .newlines)
    }

    /// Kills the process; once it has exited, does nothing.
    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
