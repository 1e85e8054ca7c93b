import Foundation
import Testing

/// `sealpost menu` driven through stdin, as a user of the original client would.
@Suite("Client: the interactive menu")
struct ClientMenuTests {
    @Test("register, list, key, send text, request and send key, send file, read messages, exit")
    func menu() async throws {
        let root = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        try await SealpostBinary.withServer { port in
            let server = "127.0.0.1:\(port)"
            func menu(_ home: String, _ input: String) async throws -> SealpostBinary.Result {
                try await SealpostBinary.run(
                    ["menu", "--home", root.appendingPathComponent(home).path, "--server", server], stdin: input, directory: root)
            }
            let first = try await menu("a", "1\nalice\n0\n")
            #expect(first.status == 0)
            #expect(first.stdout.contains("MessageU client at your service."))
            for option in ["1) Register", "2) Request for clients list", "3) Request for public key",
                           "4) Request for waiting messages", "5) Send a text message", "50) Send a file",
                           "51) Send a request for symmetric key", "52) Send your symmetric key", "0) Exit client"] {
                #expect(first.stdout.contains(option))
            }
            #expect(first.stdout.contains("Registered successfully"))
            _ = try await menu("b", "1\nbob\n")

            let file = root.appendingPathComponent("note.txt")
            try Data("a file through the menu\n".utf8).write(to: file)
            let alice = try await menu("a", "2\n3\nbob\n5\nbob\nhi from the menu\n50\nbob\n\(file.path)\n51\nbob\n52\nbob\n7\n0\n")
            #expect(alice.status == 0)
            #expect(alice.stdout.contains("bob\n"))
            #expect(alice.stdout.contains("Public key of bob received."))
            #expect(alice.stdout.contains("Message sent."))
            #expect(alice.stdout.contains("File sent."))
            #expect(alice.stdout.contains("Request for symmetric key sent."))
            #expect(alice.stdout.contains("Symmetric key sent."))
            #expect(alice.stdout.contains("Invalid option"))

            let bob = try await menu("b", "4\n5\nnobody\nx\n0\n")
            #expect(bob.status == 0)
            #expect(bob.stdout.contains("From: alice\nContent:\nhi from the menu\n-----<EOM>-----"))
            #expect(bob.stdout.contains("Content:\nRequest for symmetric key\n"))
            #expect(bob.stdout.contains("FILE: \(root.appendingPathComponent("b/downloads").path)"))
            #expect(bob.stdout.contains("Error: no client named \"nobody\""))
        }
    }
}
