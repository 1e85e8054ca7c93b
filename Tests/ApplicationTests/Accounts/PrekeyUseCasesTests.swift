import Adapters
@testable import Application
import Domain
import Testing

@Suite("ManagePrekeys, FindAccounts and FetchPrekeyBundle")
struct PrekeyUseCasesTests {
    @Test("uploads are checked whole: one bad signature, a duplicate id, or passing 100 refuses all")
    func uploads() async throws {
        let fixture = AccountFixture()
        let keys = try TestAccountKeys()
        let account = try await fixture.register(keys, "alice", prekeys: 90)
        #expect(try await fixture.useCases.prekeys.upload(keys.oneTimePrekeys(200..<205), for: account.id) == 95)
        let forged = keys.oneTimePrekeys(300..<302) + [try TestAccountKeys().prekey(id: 302, signed: false)]
        await #expect { try await fixture.useCases.prekeys.upload(forged, for: account.id) } throws: { error in
            if case AccountRequestError.badSignature = error { true } else { false }
        }
        await #expect(throws: AccountRequestError.duplicatePrekey(200)) { try await fixture.useCases.prekeys.upload(keys.oneTimePrekeys([200]), for: account.id) }
        await #expect(throws: AccountRequestError.duplicatePrekey(400)) { try await fixture.useCases.prekeys.upload(keys.oneTimePrekeys([400, 400]), for: account.id) }
        await #expect { try await fixture.useCases.prekeys.upload(keys.oneTimePrekeys(500..<506), for: account.id) } throws: { error in
            if case AccountRequestError.tooManyPrekeys = error { true } else { false }
        }
        #expect(try await fixture.useCases.prekeys.count(for: account.id) == 95)
    }

    @Test("a new signed prekey must be signed by the account, as a signed prekey; bundles then carry it")
    func replacesSignedPrekey() async throws {
        let fixture = AccountFixture()
        let keys = try TestAccountKeys()
        let account = try await fixture.register(keys, "alice", prekeys: 0)
        let replacement = keys.prekey(id: 2, signed: true)
        await #expect { try await fixture.useCases.prekeys.replaceSigned(keys.prekey(id: 3, signed: false), for: account.id) } throws: { error in
            if case AccountRequestError.badSignature = error { true } else { false }
        }
        try await fixture.useCases.prekeys.replaceSigned(replacement, for: account.id)
        #expect(try await fixture.useCases.fetchBundle(of: account.id).signedPrekey == replacement)
    }

    @Test("a bundle takes one-time prekeys in order, then goes without one; the owner is told when fewer than 10 are left")
    func bundles() async throws {
        let fixture = AccountFixture()
        let keys = try TestAccountKeys()
        let account = try await fixture.register(keys, "alice", prekeys: 11)
        let subscription = fixture.notifier.subscribe(account.id)
        defer { subscription.cancel() }
        var taken: [UInt32] = []
        for _ in 0..<11 {
            let bundle = try await fixture.useCases.fetchBundle(of: account.id)
            #expect(bundle.identity == keys.identity)
            taken.append(try #require(bundle.oneTimePrekey).id)
        }
        #expect(taken == Array(100..<111))
        #expect(try await fixture.useCases.fetchBundle(of: account.id).oneTimePrekey == nil)
        var events: [AccountEvent] = []
        for await event in subscription.events {
            events.append(event)
            if event == .prekeysLow(0) { break }
        }
        #expect(events.first == .prekeysLow(9))
        await #expect(throws: AccountRequestError.noSuchAccount) {
            try await fixture.useCases.fetchBundle(of: AccountID(bytes: [UInt8](repeating: 1, count: 16))!)
        }
    }

    @Test("lookup is exact; list pages in byte order; a closed directory refuses LIST")
    func directory() async throws {
        let fixture = AccountFixture()
        for name in ["carol", "alice", "Bob", "bob"] { try await fixture.register(try TestAccountKeys(), name, prekeys: 0) }
        #expect(try await fixture.useCases.find.lookUp(name: "bob").name.value == "bob")
        await #expect(throws: AccountRequestError.noSuchAccount) { try await fixture.useCases.find.lookUp(name: "BOB") }
        await #expect(throws: AccountRequestError.noSuchAccount) { try await fixture.useCases.find.lookUp(name: "x") }
        let first = try await fixture.useCases.find.list(after: "", limit: 3)
        #expect(first.accounts.map(\.name.value) == ["Bob", "alice", "bob"])
        #expect(first.more)
        let second = try await fixture.useCases.find.list(after: "bob", limit: 3)
        #expect(second.accounts.map(\.name.value) == ["carol"])
        #expect(!second.more)
        let closed = AccountFixture(limits: AccountLimits(directoryListable: false))
        await #expect(throws: AccountRequestError.directoryClosed) { try await closed.useCases.find.list(after: "", limit: 10) }
    }
}
