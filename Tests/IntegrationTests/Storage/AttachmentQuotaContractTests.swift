import Adapters
import Application
import Domain
import Testing

/// The `AttachmentQuota` contract, written once and run against every store: a leaky bucket
/// of bytes per account, as `LeakyBucket.take` would keep it, charged atomically.
@Suite("Attachment quota contract")
struct AttachmentQuotaContractTests {
    let alice = V3Fixtures.accountID(0xa1)
    let bob = V3Fixtures.accountID(0xb0)
    let carol = V3Fixtures.accountID(0xca)
    /// 86.4 MB a day: 1,000 bytes a second.
    let day = RateLimit(burst: 86_400_000, perSecond: 1000)
    let start = 1_800_000_000.0

    @Test("a day's quota at once, drained over the day; more than a day never fits; accounts apart", arguments: StoreKind.available)
    func drainsOverTheDay(kind: StoreKind) async throws {
        try await AccountTestStores.with(kind) { (stores: AccountTestStores) async throws in
            let quota = stores.attachmentQuota
            #expect(try await quota.charge(86_000_000, to: alice, within: day, now: start) == 0)
            // 600,000 bytes over: 600 s at 1,000 a second, and nothing is taken.
            #expect(try await quota.charge(1_000_000, to: alice, within: day, now: start) == 600)
            #expect(try await quota.charge(1_000_000, to: alice, within: day, now: start + 300) == 300)
            #expect(try await quota.charge(1_000_000, to: bob, within: day, now: start) == 0)
            #expect(try await quota.charge(86_400_001, to: carol, within: day, now: start) == .infinity)
            // Exactly full fits; one byte more waits a millisecond.
            #expect(try await quota.charge(1_000_000, to: alice, within: day, now: start + 600) == 0)
            let wait = try await quota.charge(1, to: alice, within: day, now: start + 600)
            #expect(wait > 0.000_999 && wait < 0.001_001)
            // A whole day later the bucket is empty again.
            #expect(try await quota.charge(86_400_000, to: alice, within: day, now: start + 600 + 86_400) == 0)
        }
    }

    @Test("a clock that goes back drains nothing and does not move the bucket's time back", arguments: StoreKind.available)
    func clockGoingBack(kind: StoreKind) async throws {
        try await AccountTestStores.with(kind) { (stores: AccountTestStores) async throws in
            let quota = stores.attachmentQuota
            let small = RateLimit(burst: 10_000, perSecond: 1000)
            #expect(try await quota.charge(5000, to: alice, within: small, now: start + 100) == 0)
            // Earlier than the last charge: 5,000 held still, 1,000 more fit.
            #expect(try await quota.charge(1000, to: alice, within: small, now: start + 50) == 0)
            #expect(try await quota.charge(5000, to: alice, within: small, now: start + 50) == 1)
            // Two seconds after the first charge: 6,000 − 2,000 held; 7,000 more wait 1 s.
            // (Had the time moved back to +50, the bucket would look empty by now.)
            #expect(try await quota.charge(7000, to: alice, within: small, now: start + 102) == 1)
            #expect(try await quota.charge(7000, to: alice, within: small, now: start + 103) == 0)
        }
    }

    @Test("a bucket that does not drain: what fits once, then never", arguments: StoreKind.available)
    func noDrain(kind: StoreKind) async throws {
        try await AccountTestStores.with(kind) { (stores: AccountTestStores) async throws in
            let quota = stores.attachmentQuota
            let fixed = RateLimit(burst: 1000, perSecond: 0)
            #expect(try await quota.charge(1000, to: alice, within: fixed, now: start) == 0)
            #expect(try await quota.charge(1, to: alice, within: fixed, now: start + 1e6) == .infinity)
        }
    }

    @Test("memory: drained buckets are forgotten, so memory follows the accounts uploading lately")
    func memoryForgets() async throws {
        let quota = InMemoryAttachmentQuota()
        let limit = RateLimit(burst: 1000, perSecond: 1000)
        for index in 0..<1024 {
            #expect(try await quota.charge(1000, to: V3Fixtures.accountID(UInt8(index >> 8), UInt8(index & 0xff)), within: limit, now: start) == 0)
        }
        #expect(quota.count == 1024)
        // A second later every bucket has drained: the next new one sweeps them.
        #expect(try await quota.charge(1, to: alice, within: limit, now: start + 1) == 0)
        #expect(quota.count == 1)
    }

    @Test("concurrent charges are admitted one after another: exactly the quota, never more", arguments: StoreKind.available)
    func concurrentCharges(kind: StoreKind) async throws {
        try await AccountTestStores.with(kind) { (stores: AccountTestStores) async throws in
            let quota = stores.attachmentQuota
            let limit = RateLimit(burst: 100_000, perSecond: 0)
            let (alice, start) = (alice, start)
            let admitted = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<60 {
                    group.addTask { try await quota.charge(7_000, to: alice, within: limit, now: start) == 0 }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            // 14 × 7,000 = 98,000 fit in 100,000; a 15th would not.
            #expect(admitted == 14)
            #expect(try await quota.charge(2_000, to: alice, within: limit, now: start) == 0)
            #expect(try await quota.charge(1, to: alice, within: limit, now: start) == .infinity)
        }
    }
}
