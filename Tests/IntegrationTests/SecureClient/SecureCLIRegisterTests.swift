import Foundation
import Testing

/// `sealpost register` on a v3 home, killed (SIGKILL) at each step: before REGISTER is sent,
/// and after the server answered but before the home recorded the account. Running it again
/// completes the registration with the same keys, and the account works end to end.
@Suite("Client: v3 registration survives a crash at each step", .serialized, .timeLimit(.minutes(5)))
struct SecureCLIRegisterTests {
    @Test("killed at a step, register again completes it; the account sends and receives", arguments: ["before-register", "after-register"])
    func killedAtStep(_ step: String) async throws {
        try await SecureCLIHarness.with(.sqlite) { cli in
            try await cli.register("bob")
            let killed = try await cli.run("alice", ["register", "alice"], environment: ["SEALPOST_TEST_DIE_IN_REGISTER": step])
            #expect(killed.status == SIGKILL)
            #expect(killed.stdout.isEmpty)

            // The home knows a registration was begun, and says how to finish it.
            let early = try await cli.run("alice", "send", "bob", "too early")
            #expect(early.status == 1 && early.stderr.contains("registration of alice was interrupted"), "\(early.stderr)")
            let other = try await cli.run("alice", "register", "carol")
            #expect(other.status == 1 && other.stderr.contains("sealpost register alice"), "\(other.stderr)")

            let completed = try await cli.run("alice", "register", "alice")
            #expect(completed.status == 0, "\(completed.stderr)")
            #expect(completed.stderr.contains("completed the interrupted registration of alice"))
            let id = try #require(completed.lines.first)
            let whoami = try await cli.run("alice", "whoami")
            #expect(whoami.stdout.contains(id), "\(whoami.stdout)")
            let again = try await cli.run("alice", "register", "alice")
            #expect(again.status == 1 && again.stderr.contains("registered already"))

            #expect(try await cli.run("alice", "send", "bob", "hello from a resumed registration").status == 0)
            let got = try await cli.receive("bob", count: 1)
            #expect(got.first?["text"] as? String == "hello from a resumed registration")
            #expect(got.first?["from_id"] as? String == id)
            #expect(try await cli.run("bob", "send", "alice", "hello back").status == 0)
            let back = try await cli.receive("alice", count: 1)
            #expect(back.first?["text"] as? String == "hello back")
        }
    }

    @Test("an interrupted registration whose name another account took meanwhile is dropped in words; another name works")
    func nameTakenMeanwhile() async throws {
        try await SecureCLIHarness.with(.sqlite) { cli in
            let killed = try await cli.run("alice", ["register", "alice"], environment: ["SEALPOST_TEST_DIE_IN_REGISTER": "before-register"])
            #expect(killed.status == SIGKILL)
            let thief = try await cli.run("thief", ["register", "alice"])
            #expect(thief.status == 0, "\(thief.stderr)")
            let dropped = try await cli.run("alice", "register", "alice")
            #expect(dropped.status == 1 && dropped.stderr.contains("taken by another account"), "\(dropped.stderr)")
            let renamed = try await cli.run("alice", "register", "alice2")
            #expect(renamed.status == 0, "\(renamed.stderr)")
        }
    }
}
