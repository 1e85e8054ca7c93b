import Foundation
import Testing

/// The built `sealpost` binary against a spawned `sealpost serve --store memory --port 0`:
/// outputs, `--json` shapes and exit codes.
@Suite("Client: the sealpost CLI")
struct ClientCLITests {
    static func json(_ text: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(text.utf8))
    }

    static func isHexID(_ value: Any?) -> Bool {
        guard let text = value as? String else { return false }
        return text.count == 32 && text.allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }

    @Test("register, whoami, list, key, send, send-file and inbox, with --json")
    func flow() async throws {
        let root = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        try await SealpostBinary.withServer { port in
            let server = "127.0.0.1:\(port)"
            func run(_ home: String, _ arguments: String...) async throws -> SealpostBinary.Result {
                try await SealpostBinary.run(arguments + ["--home", root.appendingPathComponent(home).path, "--server", server], directory: root)
            }
            let registered = try await run("a", "register", "alice")
            #expect(registered.status == 0)
            #expect(registered.lines.count == 1 && Self.isHexID(registered.lines.first))
            #expect(try await run("b", "register", "bob").status == 0)

            let whoami = try await run("a", "whoami", "--json")
            #expect(whoami.status == 0)
            let me = try #require(try Self.json(whoami.stdout) as? [String: Any])
            #expect(Set(me.keys) == ["id", "name"])
            #expect(me["name"] as? String == "alice")
            #expect(me["id"] as? String == registered.lines.first)

            let list = try await run("a", "list", "--json")
            #expect(list.status == 0)
            let clients = try #require(try Self.json(list.stdout) as? [[String: Any]])
            #expect(clients.count == 1)
            #expect(Set(clients[0].keys) == ["id", "name"])
            #expect(clients[0]["name"] as? String == "bob" && Self.isHexID(clients[0]["id"]))
            #expect(try await run("a", "list").lines.count == 1)

            let key = try await run("a", "key", "bob")
            #expect(key.status == 0)
            #expect(key.stdout.contains("public key of bob"))

            #expect(try await run("a", "send", "bob", "hello \"bob\"\n").status == 0)
            let file = root.appendingPathComponent("payload.bin")
            let content = Data((0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
            try content.write(to: file)
            #expect(try await run("a", "send-file", "bob", file.path).status == 0)
            #expect(try await run("a", "request-key", "bob").status == 0)

            let inbox = try await run("b", "inbox", "--json", "--no-auto-reply")
            #expect(inbox.status == 0)
            let entries = try inbox.lines.map { try #require(try Self.json($0) as? [String: Any]) }
            #expect(entries.map { $0["type"] as? String } == ["key", "text", "file", "key-request"])
            for entry in entries {
                #expect(Set(entry.keys).isSubset(of: ["id", "from_id", "from", "type", "text", "path", "error"]))
                #expect(entry["id"] is Int && Self.isHexID(entry["from_id"]))
                #expect(entry["from"] as? String == "alice")
                #expect(entry["error"] == nil)
            }
            #expect(entries[1]["text"] as? String == "hello \"bob\"\n")
            let path = try #require(entries[2]["path"] as? String)
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == content)
            #expect(path.hasPrefix(root.appendingPathComponent("b/downloads").path))

            #expect(try await run("b", "inbox").stdout.isEmpty)
            #expect(try await run("b", "send", "alice", "back").status == 0)
            let human = try await run("a", "inbox")
            #expect(human.status == 0)
            #expect(human.stdout.contains("From: bob\nContent:\nback\n-----<EOM>-----"))

            let mode = try FileManager.default.attributesOfItem(atPath: root.appendingPathComponent("a/sealpost-client.db").path)[.posixPermissions] as? Int
            #expect(mode == 0o600)
            let meInfo = try FileManager.default.attributesOfItem(atPath: root.appendingPathComponent("a/me.info").path)[.posixPermissions] as? Int
            #expect(meInfo == 0o600)
        }
    }

    @Test("failures exit non-zero with one line on stderr")
    func failures() async throws {
        let root = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let notRegistered = try await SealpostBinary.run(["whoami", "--home", root.appendingPathComponent("x").path], directory: root)
        #expect(notRegistered.status != 0)
        #expect(notRegistered.stderr.hasPrefix("sealpost: not registered"))

        try await SealpostBinary.withServer { port in
            let server = "127.0.0.1:\(port)"
            func run(_ home: String, _ arguments: String...) async throws -> SealpostBinary.Result {
                try await SealpostBinary.run(arguments + ["--home", root.appendingPathComponent(home).path, "--server", server], directory: root)
            }
            #expect(try await run("a", "register", "alice").status == 0)
            let taken = try await run("b", "register", "alice")
            #expect(taken.status == 1)
            #expect(taken.stderr == "sealpost: the server refused the register request (error 9000)\n")
            let unknown = try await run("a", "send", "nobody", "hi")
            #expect(unknown.status == 1)
            #expect(unknown.stderr.split(separator: "\n").count == 1)
            #expect(unknown.stderr.contains("nobody"))
            let missing = try await run("a", "send-file", "alice", "/nonexistent/file")
            #expect(missing.status == 1)
            #expect(missing.stderr.contains("/nonexistent/file"))
        }
        // Nothing listens on the port any more.
        let down = try await SealpostBinary.run(
            ["list", "--home", root.appendingPathComponent("a").path, "--server", "127.0.0.1:1"], directory: root)
        #expect(down.status == 1)
        #expect(down.stderr == "sealpost: cannot connect to 127.0.0.1:1: connection refused\n")
    }

    @Test("home from $SEALPOST_HOME or an original client's directory; server from $SEALPOST_SERVER or server.info")
    func resolution() async throws {
        let root = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        try await SealpostBinary.withServer { port in
            let envHome = root.appendingPathComponent("env-home")
            let registered = try await SealpostBinary.run(
                ["register", "carol"], directory: root,
                environment: ["SEALPOST_HOME": envHome.path, "SEALPOST_SERVER": "127.0.0.1:\(port)"])
            #expect(registered.status == 0)
            #expect(FileManager.default.fileExists(atPath: envHome.appendingPathComponent("me.info").path))
            let homeMode = try FileManager.default.attributesOfItem(atPath: envHome.path)[.posixPermissions] as? Int
            #expect(homeMode == 0o700)

            // An original client's working directory: server.info there, no options at all.
            let legacy = root.appendingPathComponent("legacy")
            try FileManager.default.createDirectory(at: legacy, withIntermediateDirectories: true)
            try "127.0.0.1:\(port)\n".write(to: legacy.appendingPathComponent("server.info"), atomically: true, encoding: .utf8)
            #expect(try await SealpostBinary.run(["register", "dave"], directory: legacy).status == 0)
            #expect(FileManager.default.fileExists(atPath: legacy.appendingPathComponent("me.info").path))
            let list = try await SealpostBinary.run(["list"], directory: legacy)
            #expect(list.lines.map { $0.split(separator: " ").first.map(String.init) } == ["carol"])

            // The XDG default.
            let xdg = try await SealpostBinary.run(
                ["register", "erin", "--server", "127.0.0.1:\(port)"], directory: root,
                environment: ["XDG_DATA_HOME": root.appendingPathComponent("xdg").path])
            #expect(xdg.status == 0)
            #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("xdg/sealpost/me.info").path))
        }
    }
}
