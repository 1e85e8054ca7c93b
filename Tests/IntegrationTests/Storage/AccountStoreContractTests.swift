import Application
import Domain
import Testing

/// The `AccountStore` contract, written once and run against every store: memory, SQLite (a
/// temporary file) and PostgreSQL (a fresh schema, when `SEALPOST_TEST_POSTGRES_URL` is set).
/// Several processes on one PostgreSQL database are in `PostgresV3SharingTests`.
@Suite("Account store contract")
struct AccountStoreContractTests {
    let aliceID = V3Fixtures.accountID(0xa1)
    let bobID = V3Fixtures.accountID(0xb0)

    /// Expects `body` to throw `expected`.
    private func expect(
        _ expected: AccountStoreError, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void
    ) async {
        do {
            try await body()
            Issue.record("expected \(expected), nothing was thrown", sourceLocation: sourceLocation)
        } catch let error as AccountStoreError {
            #expect(error == expected, sourceLocation: sourceLocation)
        } catch {
            Issue.record("expected \(expected), got \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test("create: lookups by id and by name; unknown ids and names are nil", arguments: StoreKind.available)
    func createAndLookUp(kind: StoreKind) async throws {
        try await AccountTestStores.with(kind) { stores in
            let alice = try V3Fixtures.account(aliceID, "alice")
            try await stores.accounts.create(alice, signedPrekey: try V3Fixtures.prekey(1), oneTimePrekeys: try V3Fixtures.prekeys(10...12))

            #expect(try await stores.accounts.account(id: aliceID) == alice)
            #expect(try await stores.accounts.account(named: try AccountName("alice")) == alice)
            #expect(try await stores.accounts.account(id: bobID) == nil)
            #expect(try await stores.accounts.account(named: try AccountName("Alice")) == nil)
            #expect(try await stores.accounts.account(named: try AccountName("alice2")) == nil)
            #expect(try await stores.accounts.oneTimePrekeyCount(of: aliceID) == 3)
            #expect(try await stores.accounts.oneTimePrekeyCount(of: bobID) == 0)
        }
    }

    @Test("create: a taken name, a taken id and a prekey id given twice are refused, and nothing is stored", arguments: StoreKind.available)
    func createRefusals(kind: StoreKind) async throws {
        try await AccountTestStores.with(kind) { stores in
            let accounts = stores.accounts
            try await accounts.create(try V3Fixtures.account(aliceID, "alice"), signedPrekey: try V3Fixtures.prekey(1), oneTimePrekeys: [])

            await expect(.nameTaken) {
                try await accounts.create(try V3Fixtures.account(bobID, "alice"), signedPrekey: try V3Fixtures.prekey(1), oneTimePrekeys: [])
            }
            await expect(.idTaken) {
                try await accounts.create(try V3Fixtures.account(aliceID, "bob"), signedPrekey: try V3Fixtures.prekey(1), oneTimePrekeys: [])
            }
            await expect(.duplicatePrekey(7)) {
                try await accounts.create(
                    try V3Fixtures.account(bobID, "bob"), signedPrekey: try V3Fixtures.prekey(1),
                    oneTimePrekeys: [try V3Fixtures.prekey(6), try V3Fixtures.prekey(7), try V3Fixtures.prekey(7, variant: 1)])
            }
            // All or nothing: none of the refused accounts exists, in part or whole.
            #expect(try await accounts.account(id: bobID) == nil)
            #expect(try await accounts.account(named: try AccountName("bob")) == nil)
            #expect(try await accounts.oneTimePrekeyCount(of: bobID) == 0)
            #expect(try await accounts.takeBundle(of: bobID) == nil)
            #expect(try await accounts.account(id: aliceID)?.name.value == "alice")

            // The refused name and id are free for a good account after all that.
            try await accounts.create(try V3Fixtures.account(bobID, "bob"), signedPrekey: try V3Fixtures.prekey(1), oneTimePrekeys: try V3Fixtures.prekeys(6...7))
            #expect(try await accounts.oneTimePrekeyCount(of: bobID) == 2)
        }
    }

    @Test("names are unique and looked up byte for byte, not by canonical equivalence", arguments: StoreKind.available)
    func namesByteForByte(kind: StoreKind) async throws {
        try await AccountTestStores.with(kind) { stores in
            let precomposed = "caf\u{E9}"       // é as one scalar
            let decomposed = "cafe\u{301}"      // e and a combining acute accent
            #expect(precomposed == decomposed, "Swift's == says these are one string; the stores must not")
            try await stores.accounts.create(try V3Fixtures.account(aliceID, precomposed), signedPrekey: try V3Fixtures.prekey(1), oneTimePrekeys: [])
            try await stores.accounts.create(try V3Fixtures.account(bobID, decomposed), signedPrekey: try V3Fixtures.prekey(1), oneTimePrekeys: [])

            #expect(try await stores.accounts.account(named: try AccountName(precomposed))?.id == aliceID)
            #expect(try await stores.accounts.account(named: try AccountName(decomposed))?.id == bobID)
            let page = try await stores.accounts.accounts(after: "", limit: 10)
            #expect(page.accounts.map { Array($0.name.value.utf8) } == [Array(decomposed.utf8), Array(precomposed.utf8)])
        }
    }

    @Test("accounts(after:limit:): byte-wise name order, pages, and whether more follow", arguments: StoreKind.available)
    func directoryPages(kind: StoreKind) async throws {
        try await AccountTestStores.with(kind) { stores in
            // Byte-wise: upper case before lower case, "b" before "ba", ASCII before "é", and
            // "é" (C3 A9) before "ü" (C3 BC); a locale collation would sort these otherwise.
            let names = ["zed", "Zoe", "ba", "b\u{FC}r", "b\u{E9}e", "bb", "Bob", "alice", "_x", "b"]
            for (index, name) in names.enumerated() {
                try await stores.accounts.create(
                    try V3Fixtures.account(V3Fixtures.accountID(0x40, UInt8(index)), name == "b" ? "b2" : name),
                    signedPrekey: try V3Fixtures.prekey(1), oneTimePrekeys: [])
            }
            let sorted = names.map { $0 == "b" ? "b2" : $0 }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            #expect(sorted == ["Bob", "Zoe", "_x", "alice", "b2", "ba", "bb", "b\u{E9}e", "b\u{FC}r", "zed"])

            let all = try await stores.accounts.accounts(after: "", limit: 100)
            #expect(all.accounts.map(\.name.value) == sorted)
            #expect(all.more == false)
            #expect(all.accounts.first?.id == V3Fixtures.accountID(0x40, 6))

            // Paging by the last name listed reads each name once, in order.
            var paged: [String] = []
            var after = ""
            var pages = 0
            while true {
                let page = try await stores.accounts.accounts(after: after, limit: 3)
                paged += page.accounts.map(\.name.value)
                pages += 1
                #expect(page.more == (paged.count < sorted.count), "page \(pages)")
                guard page.more, let last = page.accounts.last else { break }
                after = last.name.value
            }
            #expect(paged == sorted)
            #expect(pages == 4)

            // `after` need not be a stored name; a page that ends exactly at the last name says no more.
            #expect(try await stores.accounts.accounts(after: "b", limit: 2).accounts.map(\.name.value) == ["b2", "ba"])
            #expect(try await stores.accounts.accounts(after: "b\u{0}\u{0}z", limit: 2).accounts.map(\.name.value) == ["b2", "ba"])
            #expect(try await stores.accounts.accounts(after: "", limit: .max).accounts.count == names.count)
            #expect(try await stores.accounts.accounts(after: "b\u{F0}", limit: 5).accounts.map(\.name.value) == ["b\u{FC}r", "zed"])
            let lastTwo = try await stores.accounts.accounts(after: "b\u{E9}e", limit: 2)
            #expect(lastTwo.accounts.map(\.name.value) == ["b\u{FC}r", "zed"])
            #expect(lastTwo.more == false)
            let pastEnd = try await stores.accounts.accounts(after: "zed", limit: 5)
            #expect(pastEnd.accounts.isEmpty)
            #expect(pastEnd.more == false)
        }
    }

    @Test("addOneTimePrekeys: counts, the limit, duplicates, unknown accounts, all or nothing", arguments: StoreKind.available)
    func addPrekeys(kind: StoreKind) async throws {
        try await AccountTestStores.with(kind) { stores in
            let accounts = stores.accounts
            try await accounts.create(try V3Fixtures.account(aliceID, "alice"), signedPrekey: try V3Fixtures.prekey(1), oneTimePrekeys: try V3Fixtures.prekeys(1...5))

            #expect(try await accounts.addOneTimePrekeys(try V3Fixtures.prekeys(6...10), to: aliceID, limit: 100) == 10)
            #expect(try await accounts.oneTimePrekeyCount(of: aliceID) == 10)
            // An empty upload changes nothing and says how many are held.
            #expect(try await accounts.addOneTimePrekeys([], to: aliceID, limit: 100) == 10)

            await expect(.noSuchAccount) {
                _ = try await accounts.addOneTimePrekeys(try V3Fixtures.prekeys(1...2), to: bobID, limit: 100)
            }
            await expect(.duplicatePrekey(10)) {
                _ = try await accounts.addOneTimePrekeys(try V3Fixtures.prekeys(10...12), to: aliceID, limit: 100)
            }
            await expect(.duplicatePrekey(21)) {
                _ = try await accounts.addOneTimePrekeys(
                    [try V3Fixtures.prekey(20), try V3Fixtures.prekey(21), try V3Fixtures.prekey(21, variant: 2)], to: aliceID, limit: 100)
            }
            await expect(.tooManyPrekeys(held: 10, adding: 3, limit: 12)) {
                _ = try await accounts.addOneTimePrekeys(try V3Fixtures.prekeys(11...13), to: aliceID, limit: 12)
            }
            #expect(try await accounts.oneTimePrekeyCount(of: aliceID) == 10)
            #expect(try await accounts.oneTimePrekeyCount(of: bobID) == 0)

            // Up to the limit exactly is allowed.
            #expect(try await accounts.addOneTimePrekeys(try V3Fixtures.prekeys(11...12), to: aliceID, limit: 12) == 12)

            // An id handed out in a bundle may be stored again.
            let taken = try #require(try await accounts.takeBundle(of: aliceID))
            #expect(taken.bundle.oneTimePrekey?.id == 1)
            #expect(try await accounts.addOneTimePrekeys([try V3Fixtures.prekey(1, variant: 3)], to: aliceID, limit: 12) == 12)
        }
    }

    @Test("takeBundle: oldest one-time prekey first, each once, then bundles without one", arguments: StoreKind.available)
    func takeBundles(kind: StoreKind) async throws {
        try await AccountTestStores.with(kind) { stores in
            let accounts = stores.accounts
            let alice = try V3Fixtures.account(aliceID, "alice")
            let signed = try V3Fixtures.prekey(1000)
            // Stored order, not id order: 30, 10, 20, then 5 and 40 later.
            try await accounts.create(alice, signedPrekey: signed, oneTimePrekeys: [try V3Fixtures.prekey(30), try V3Fixtures.prekey(10), try V3Fixtures.prekey(20)])
            _ = try await accounts.addOneTimePrekeys([try V3Fixtures.prekey(5), try V3Fixtures.prekey(40)], to: aliceID, limit: 100)

            var order: [UInt32] = []
            for left in (0..<5).reversed() {
                let taken = try #require(try await accounts.takeBundle(of: aliceID))
                #expect(taken.oneTimePrekeysLeft == left)
                #expect(taken.bundle.account == aliceID)
                #expect(taken.bundle.identity == alice.identity)
                #expect(taken.bundle.signedPrekey == signed)
                let oneTime = try #require(taken.bundle.oneTimePrekey)
                #expect(oneTime == (try V3Fixtures.prekey(oneTime.id)))
                order.append(oneTime.id)
            }
            #expect(order == [30, 10, 20, 5, 40])
            #expect(try await accounts.oneTimePrekeyCount(of: aliceID) == 0)

            // Exhausted: still a bundle, without a one-time prekey, as often as asked.
            for _ in 0..<2 {
                let taken = try #require(try await accounts.takeBundle(of: aliceID))
                #expect(taken.bundle.oneTimePrekey == nil)
                #expect(taken.bundle.signedPrekey == signed)
                #expect(taken.oneTimePrekeysLeft == 0)
            }
            #expect(try await accounts.takeBundle(of: bobID) == nil)
        }
    }

    @Test("replaceSignedPrekey: later bundles carry the new one; unknown accounts refused", arguments: StoreKind.available)
    func replaceSignedPrekey(kind: StoreKind) async throws {
        try await AccountTestStores.with(kind) { stores in
            let accounts = stores.accounts
            try await accounts.create(try V3Fixtures.account(aliceID, "alice"), signedPrekey: try V3Fixtures.prekey(1), oneTimePrekeys: try V3Fixtures.prekeys(10...11))
            #expect(try await accounts.takeBundle(of: aliceID)?.bundle.signedPrekey == (try V3Fixtures.prekey(1)))

            let replacement = try V3Fixtures.prekey(2, variant: 9)
            try await accounts.replaceSignedPrekey(replacement, of: aliceID)
            let taken = try #require(try await accounts.takeBundle(of: aliceID))
            #expect(taken.bundle.signedPrekey == replacement)
            #expect(taken.bundle.oneTimePrekey?.id == 11)

            // The same id again, with new key material, replaces too.
            let sameID = try V3Fixtures.prekey(2, variant: 10)
            try await accounts.replaceSignedPrekey(sameID, of: aliceID)
            #expect(try await accounts.takeBundle(of: aliceID)?.bundle.signedPrekey == sameID)

            await expect(.noSuchAccount) { try await accounts.replaceSignedPrekey(replacement, of: bobID) }
            #expect(try await accounts.account(id: bobID) == nil)
        }
    }

    @Test("takeBundle: concurrent takers in one process never get the same prekey", arguments: StoreKind.available)
    func concurrentTakers(kind: StoreKind) async throws {
        try await AccountTestStores.with(kind) { stores in
            let accounts = stores.accounts
            try await accounts.create(try V3Fixtures.account(aliceID, "alice"), signedPrekey: try V3Fixtures.prekey(1), oneTimePrekeys: try V3Fixtures.prekeys(1...40))
            let aliceID = self.aliceID
            let ids = try await withThrowingTaskGroup(of: [UInt32].self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        var mine: [UInt32] = []
                        for _ in 0..<12 {
                            if let id = try await accounts.takeBundle(of: aliceID)?.bundle.oneTimePrekey?.id { mine.append(id) }
                        }
                        return mine
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(ids.sorted() == Array(1...40))
        }
    }
}
