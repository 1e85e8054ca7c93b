import Foundation
import Testing

/// `sealpost menu` driven through stdin, compared byte for byte with the original client's
/// recorded menu paths (`Tests/Fixtures/vectors/original_menu_transcript.md`). Ids, keys and
/// message ids are fresh in every run: they are read from the output and substituted into the
/// expected text, the rest must match exactly.
@Suite("Client: the interactive menu, as the original's transcript")
struct ClientMenuTests {
    /// The recorded `<MENU>` bytes: the fenced block right after "`<MENU>` stands for".
    static func recordedMenu() throws -> String {
        let text = try String(contentsOf: Fixtures.directory.appendingPathComponent("original_menu_transcript.md"), encoding: .utf8)
        guard let start = text.range(of: "`<MENU>` stands for exactly these bytes"),
              let open = text.range(of: "```text\n", range: start.upperBound..<text.endIndex),
              let close = text.range(of: "\n```", range: open.upperBound..<text.endIndex)
        else { throw TestSetupError("no <MENU> block in the transcript") }
        // The block's last line is "? " (the fence strips nothing: the space is kept).
        return String(text[open.upperBound..<close.lowerBound])
    }

    /// Replaces fresh values so that two runs compare equal: message ids and download names.
    static func normalized(_ text: String) -> String {
        text.replacingOccurrences(of: #"Msg ID: \d+"#, with: "Msg ID: <N>", options: .regularExpression)
            .replacingOccurrences(of: #"-\d+\n"#, with: "-<N>\n", options: .regularExpression)
    }

    static func first(_ pattern: String, in text: String) throws -> String {
        guard let range = text.range(of: pattern, options: .regularExpression) else {
            throw TestSetupError("no \(pattern) in: \(text)")
        }
        return String(text[range]).components(separatedBy: " ").last ?? ""
    }

    @Test("every recorded path: start-up lines, register, list, keys, texts, files, inbox layout, errors, type-ahead, end of input")
    func transcriptPaths() async throws {
        let root = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let menu = try Self.recordedMenu()
        #expect(menu.hasPrefix("********************************\nMessageU client at your service.\n"))
        #expect(menu.hasSuffix("0) Exit client\n? "))
        try await SealpostBinary.withServer { port in
            let server = "127.0.0.1:\(port)"
            func run(_ home: String, _ input: String) async throws -> String {
                let result = try await SealpostBinary.run(
                    ["menu", "--home", root.appendingPathComponent(home).path, "--server", server], stdin: input, directory: root)
                #expect(result.status == 0)
                #expect(result.stderr.isEmpty)
                return result.stdout
            }
            let unregistered = "Server configuration: \(server)\n* NOT REGISTERED *\n"
            func registered(_ id: String, _ name: String, _ key: String) -> String {
                "Server configuration: \(server)\nClient ID: \(id)\nClient name: \(name)\nClient Public Key: \(key)\n"
            }
            func list(_ rows: [(String, String, String, String)]) -> String {
                "* Clients:\n" + rows.map { "\tID:\($0.0), Name:\($0.1), PublicKey:\($0.2), SymmetricKey:\($0.3)\n" }.joined()
            }

            // 1.1, 2.5, 2.1, 2.4 (with type-ahead), and end of input at the menu: exits.
            let a1 = try await run("a", "2\n1\nalice\n1 carol\n")
            let alice = try Self.first("Client ID: [0-9A-F]{32}", in: a1)
            #expect(a1 == unregistered + menu + "ERROR: Client not registered\n" + menu
                    + "Enter client name: * Registration Successful\nClient ID: \(alice)\n" + menu
                    + "ERROR: Client already registered\n" + menu + "error: stoi\n" + menu)

            // 2.3 (a refused name), 2.2 (a taken name), 2.6, 5.1, 11.3.
            let b1 = try await run("b", "1\nx\n1\nalice\n1\nbob\n4\nabc\n2abc\n99999999999\n0\n")
            let bob = try Self.first("Client ID: [0-9A-F]{32}", in: b1)
            let general = "error: Got general error response from server. Check server logs for details\n"
            #expect(b1 == unregistered + menu + "Enter client name: " + general + menu + "Enter client name: " + general
                    + menu + "Enter client name: * Registration Successful\nClient ID: \(bob)\n"
                    + menu + "---- INBOX EMPTY -----\n" + menu + "error: stoi\n" + menu + list([(alice, "alice", "-", "-")]) + menu + "error: stoi\n" + menu)

            // 1.2, 4.2 (not in the local list), 3.2, 4.1, 6.3, 8.1, 4.3, 11.2 (no newline), 11.4.
            let a2 = try await run("a", "3\nbob\n2\n3\nbob\n5\nbob\nhello before any key\n51\nbob\n3\n\n   bob\n7\n-1\n\n   \n4 0\n")
            let aliceKey = try Self.first("Client Public Key: [0-9A-F]{320}", in: a2)
            #expect(aliceKey.hasPrefix("30819D300D06092A864886F70D010101050003818B0030818702818100") && aliceKey.hasSuffix("020111"))
            let bobNoKeys = list([(bob, "bob", "-", "-")]), bobPublic = list([(bob, "bob", "+", "-")])
            #expect(a2 == registered(alice, "alice", aliceKey) + menu + list([]) + "Enter client name: error: client does not exist\n"
                    + menu + bobNoKeys + menu + bobNoKeys + "Enter client name: Public key loaded\n"
                    + menu + bobPublic + "Enter client name: Enter message: error: client symmetric key not loaded. First ask for key\n"
                    + menu + bobPublic + "Enter client name: Request sent\n"
                    + menu + bobPublic + "Enter client name: error: client public key already loaded\n"
                    + menu + "Error: invalid option selected: 7" + menu + "Error: invalid option selected: -1"
                    + menu + "---- INBOX EMPTY -----\n" + menu)

            // 5.8 (sender not in the local list), 5.2, 9.3, 5.3 (bob loads alice's key and sends his).
            let b2 = try await run("b", "4\n52\nalice\n2\n52\nalice\n3\nalice\n52\nalice\n0\n")
            let bobKey = try Self.first("Client Public Key: [0-9A-F]{320}", in: b2)
            let aliceNoKeys = list([(alice, "alice", "-", "-")])
            #expect(Self.normalized(b2) == registered(bob, "bob", bobKey) + menu
                    + "ERR: Got unknown message client id: \(alice)\nFrom: --UNKNOWN--\nMsg ID: <N>\nContent:\nRequest for symmetric key\n----<EOM>-----\n"
                    + menu + list([]) + "Enter client name: error: client does not exist\n"
                    + menu + aliceNoKeys + menu + aliceNoKeys + "Enter client name: error: client public key not loaded. Request it first\n"
                    + menu + aliceNoKeys + "Enter client name: Public key loaded\n"
                    + menu + list([(alice, "alice", "+", "-")]) + "Enter client name: Key sent\n" + menu)

            // 5.3 on alice's side, 6.6 (name and text on one line; blank line skipped), 7.1 (a path
            // with a space), 7.2, 8.4, and end of input at "Enter message: " (the empty text is sent).
            try Data("a file through the menu\n".utf8).write(to: root.appendingPathComponent("my file.txt"))
            let a3 = try await run("a", "2\n4\n5\nbob hi from one line\n5\nbob\n\n   leading blanks and blank line skipped\n50\nbob\nmy file.txt\n50\nbob\nno-such-file.txt\n51\nbob\n5\nbob\n")
            let bobBoth = list([(bob, "bob", "+", "+")])
            #expect(Self.normalized(a3) == registered(alice, "alice", aliceKey) + menu + bobPublic
                    + menu + "From: bob\nMsg ID: <N>\nContent:\nSymmetric key received\n----<EOM>-----\n"
                    + menu + bobBoth + "Enter client name: Enter message: Message sent\n"
                    + menu + bobBoth + "Enter client name: Enter message: Message sent\n"
                    + menu + bobBoth + "Enter client name: Enter file name: File sent\n"
                    + menu + bobBoth + "Enter client name: Enter file name: error: File not found\n"
                    + menu + bobBoth + "Enter client name: error: client symmetric key already loaded\n"
                    + menu + bobBoth + "Enter client name: Enter message: Message sent\n" + menu)

            // 5.4, 5.5 (the file, saved under the home's downloads, not $TMPDIR), 5.10 (empty text),
            // 5.7 (a key that is ignored because one is held).
            let b3 = try await run("b", "2\n52\nalice\n4\n0\n")
            let downloads = root.appendingPathComponent("b/downloads")
            let saved = try FileManager.default.contentsOfDirectory(atPath: downloads.path)
            #expect(saved.count == 1)
            let file = try #require(saved.first)
            #expect(try Data(contentsOf: downloads.appendingPathComponent(file)) == Data("a file through the menu\n".utf8))
            let aliceBob = list([(alice, "alice", "+", "+")])
            #expect(Self.normalized(b3) == registered(bob, "bob", bobKey) + menu + aliceBob
                    + menu + aliceBob + "Enter client name: Key sent\n" + menu
                    + "From: alice\nMsg ID: <N>\nContent:\nhi from one line\n----<EOM>-----\n"
                    + "From: alice\nMsg ID: <N>\nContent:\nleading blanks and blank line skipped\n----<EOM>-----\n"
                    + "From: alice\nMsg ID: <N>\nContent:\nFILE: \(downloads.path)/alice-<N>\n----<EOM>-----\n"
                    + "From: alice\nMsg ID: <N>\nContent:\n----<EOM>-----\n" + menu)

            // 5.7 on alice's side: bob's key arrives while alice holds one.
            let a4 = try await run("a", "2\n4\n0\n")
            #expect(Self.normalized(a4) == registered(alice, "alice", aliceKey) + menu + bobBoth + menu
                    + "From: bob\nMsg ID: <N>\nContent:\nSymmetric key received, but ignored (already exists for client)\n----<EOM>-----\n" + menu)
        }
    }

    @Test("10.1: a server that is down reads as the original's connect error, and the menu goes on")
    func serverDown() async throws {
        let root = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let port = try await SealpostBinary.withServer { port in
            _ = try await SealpostBinary.run(["register", "carol", "--home", root.appendingPathComponent("c").path, "--server", "127.0.0.1:\(port)"], directory: root)
            return port
        }
        let result = try await SealpostBinary.run(
            ["menu", "--home", root.appendingPathComponent("c").path, "--server", "127.0.0.1:\(port)"], stdin: "2\n0\n", directory: root)
        #expect(result.status == 0)
        #expect(result.stdout.contains("? error: connect: Connection refused\n********************************\n"))
        let list = try await SealpostBinary.run(
            ["list", "--home", root.appendingPathComponent("c").path, "--server", "127.0.0.1:\(port)"], directory: root)
        #expect(list.status == 1)
        #expect(list.stderr == "sealpost: cannot connect to 127.0.0.1:\(port): connection refused\n")
    }

    @Test("a reader that goes away (`menu | head`) ends the menu quietly with status 0, without a crash")
    func brokenPipe() async throws {
        let root = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        // 20,000 choices that need no server write far more than a pipe holds, so the menu
        // is still writing when head has gone.
        let script = "yes 7 | head -n 20000 | \"$0\" menu --home \"$1\" --server 127.0.0.1:9 2>\"$1.err\" | head -c 100 >/dev/null; echo \"${PIPESTATUS[2]}\""
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", script, SealpostBinary.path, root.appendingPathComponent("h").path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = try output.fileHandleForReading.readToEnd() ?? Data()
        process.waitUntilExit()
        #expect(String(decoding: data, as: UTF8.self) == "0\n")
        let errors = (try? String(contentsOf: root.appendingPathComponent("h.err"), encoding: .utf8)) ?? ""
        #expect(errors.isEmpty)
    }
}
