import Application
import Domain
import Testing

/// The `EnvelopeQueue` contract, written once and run against every store. Leases across
/// processes on one PostgreSQL database are in `PostgresV3SharingTests`.
@Suite("Envelope queue contract")
struct EnvelopeQueueContractTests {
    let alice = V3Fixtures.accountID(0xa1)
    let bob = V3Fixtures.accountID(0xb0)
    let carol = V3Fixtures.accountID(0xca)
    let first = LeaseHolder(0x1111_0000_0000_0001)
    let second = LeaseHolder(0xffff_0000_0000_0002)  // the top bit set: above Int64.max
    let later: UInt64 = 1_800_000_000_000

    /// Stores `count` envelopes for `recipient`, numbered in their first byte (modulo 256).
    private func fill(_ queue: any EnvelopeQueue, for recipient: AccountID, from sender: AccountID, _ count: Int, from start: Int = 0) async throws -> [MessageID] {
        var ids: [MessageID] = []
        for index in start..<(start + count) {
            ids.append(try await queue.enqueue(to: recipient, from: sender, envelope: [UInt8(truncatingIfNeeded: index), 0xee], storedAt: 1_700_000_000_000 + UInt64(index)))
        }
        return ids
    }

    @Test("enqueue: ids ascend across recipients; leases hand back every field", arguments: StoreKind.available)
    func enqueue(kind: StoreKind) async throws {
        try await AccountTestStores.with(kind) { stores in
            let queue = stores.envelopes
            let big = (0..<65_536).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            let one = try await queue.enqueue(to: alice, from: bob, envelope: big, storedAt: 1_700_000_000_123)
            let two = try await queue.enqueue(to: bob, from: alice, envelope: [1], storedAt: 1_700_000_000_124)
            let three = try await queue.enqueue(to: alice, from: carol, envelope: [2, 3], storedAt: 1_700_000_000_125)
            #expect(one < two && two < three)

            let leased = try await queue.lease(for: alice, to: first, limit: 10, until: later)
            #expect(leased == [
                QueuedEnvelope(id: one, recipient: alice, sender: bob, storedAt: 1_700_000_000_123, envelope: big),
                QueuedEnvelope(id: three, recipient: alice, sender: carol, storedAt: 1_700_000_000_125, envelope: [2, 3]),
            ])
            #expect(try await queue.waitingCount(for: alice) == 2)
            #expect(try await queue.waitingCount(for: bob) == 1)
            #expect(try await queue.waitingCount(for: carol) == 0)
            #expect(try await queue.lease(for: carol, to: first, limit: 10, until: later).isEmpty)
        }
    }

    @Test("lease: the oldest first, up to the limit; a leased envelope is invisible to every other lease", arguments: StoreKind.available)
    func leaseOrderLimitAndExclusivity(kind: StoreKind) async throws {
        try await AccountTestStores.with(kind) { stores in
            let queue = stores.envelopes
            let ids = try await fill(queue, for: alice, from: bob, 7)

            let firstBatch = try await queue.lease(for: alice, to: first, limit: 3, until: later)
            #expect(firstBatch.map(\.id) == Array(ids[0..<3]))
            // Another holder gets only what the first does not hold; the same holder, again, too.
            let secondBatch = try await queue.lease(for: alice, to: second, limit: 3, until: later)
            #expect(secondBatch.map(\.id) == Array(ids[3..<6]))
            let firstAgain = try await queue.lease(for: alice, to: first, limit: 10, until: later)
            #expect(firstAgain.map(\.id) == [ids[6]])
            #expect(try await queue.lease(for: alice, to: second, limit: 10, until: later).isEmpty)
            #expect(try await queue.lease(for: alice, to: LeaseHolder(3), limit: 10, until: later).isEmpty)
            // Leased or not, they all wait.
            #expect(try await queue.waitingCount(for: alice) == 7)
            #expect(try await queue.lease(for: alice, to: LeaseHolder(3), limit: 0, until: later).isEmpty)

            // One newly stored is leased at once, and other inboxes are untouched by all this.
            let bobs = try await fill(queue, for: bob, from: alice, 2)
            let eighth = try await fill(queue, for: alice, from: bob, 1, from: 7)
            #expect(try await queue.lease(for: alice, to: second, limit: 10, until: later).map(\.id) == eighth)
            #expect(try await queue.lease(for: bob, to: first, limit: 10, until: later).map(\.id) == bobs)
        }
    }

    @Test("acknowledge: deletes only the named recipient's, counts them, and may be repeated", arguments: StoreKind.available)
    func acknowledge(kind: StoreKind) async throws {
        try await AccountTestStores.with(kind) { stores in
            let queue = stores.envelopes
            let alices = try await fill(queue, for: alice, from: bob, 4)
            let bobs = try await fill(queue, for: bob, from: alice, 2)
            _ = try await queue.lease(for: alice, to: first, limit: 2, until: later)

            // Bob's ids acknowledged as Alice's are not Alice's to delete.
            #expect(try await queue.acknowledge(bobs, for: alice) == 0)
            #expect(try await queue.waitingCount(for: bob) == 2)
            // Leased or not (the third was never leased); an unknown id and a repeat are ignored.
            #expect(try await queue.acknowledge([alices[0], alices[2], alices[0], MessageID(999_999)], for: alice) == 2)
            #expect(try await queue.acknowledge([alices[0], alices[2]], for: alice) == 0)
            #expect(try await queue.acknowledge([], for: alice) == 0)
            #expect(try await queue.waitingCount(for: alice) == 2)

            try await queue.release(first)
            #expect(try await queue.lease(for: alice, to: second, limit: 10, until: later).map(\.id) == [alices[1], alices[3]])
            #expect(try await queue.acknowledge(bobs, for: bob) == 2)
            #expect(try await queue.waitingCount(for: bob) == 0)
        }
    }

    @Test("release: a holder's envelopes go back unchanged, in order; other holders keep theirs", arguments: StoreKind.available)
    func release(kind: StoreKind) async throws {
        try await AccountTestStores.with(kind) { stores in
            let queue = stores.envelopes
            let ids = try await fill(queue, for: alice, from: bob, 5)
            let bobs = try await fill(queue, for: bob, from: carol, 1)
            let held = try await queue.lease(for: alice, to: first, limit: 2, until: later)
            _ = try await queue.lease(for: alice, to: second, limit: 2, until: later)
            _ = try await queue.lease(for: bob, to: first, limit: 2, until: later)

            try await queue.release(first)
            let again = try await queue.lease(for: alice, to: LeaseHolder(3), limit: 10, until: later)
            #expect(again == held + [try #require(again.last)])
            #expect(again.map(\.id) == [ids[0], ids[1], ids[4]])
            #expect(try await queue.lease(for: bob, to: LeaseHolder(3), limit: 10, until: later).map(\.id) == bobs)
            // Releasing twice, or a holder that holds nothing, is harmless.
            try await queue.release(first)
            try await queue.release(LeaseHolder(77))
            #expect(try await queue.waitingCount(for: alice) == 5)
        }
    }

    @Test("a lease until the end of time never runs out; ids and holders keep all 64 bits", arguments: StoreKind.available)
    func extremes(kind: StoreKind) async throws {
        try await AccountTestStores.with(kind) { stores in
            let queue = stores.envelopes
            let ids = try await fill(queue, for: alice, from: bob, 2)
            let stamped = try await queue.enqueue(to: alice, from: bob, envelope: [9], storedAt: UInt64(Int64.max))
            #expect(try await queue.lease(for: alice, to: second, limit: 1, until: .max).map(\.id) == [ids[0]])
            #expect(try await queue.lease(for: alice, to: first, limit: 1, until: 1_700_000_000_000).map(\.id) == [ids[1]])
            #expect(try await queue.expireLeases(now: 1_900_000_000_000) == 1)
            #expect(try await queue.expireLeases(now: .max) == 0)
            // The holder with its top bit set releases exactly its own.
            try await queue.release(second)
            let back = try await queue.lease(for: alice, to: first, limit: 5, until: 1)
            #expect(back.map(\.id) == [ids[0], ids[1], stamped])
            #expect(back.last?.storedAt == UInt64(Int64.max))
        }
    }

    @Test("expireLeases: only leases that ran out before now end; renew pushes a holder's forward", arguments: StoreKind.available)
    func expiryAndRenewal(kind: StoreKind) async throws {
        try await AccountTestStores.with(kind) { stores in
            let queue = stores.envelopes
            let base: UInt64 = 1_700_000_000_000
            let ids = try await fill(queue, for: alice, from: bob, 4)
            let bobs = try await fill(queue, for: bob, from: alice, 1)
            _ = try await queue.lease(for: alice, to: first, limit: 2, until: base + 1_000)
            _ = try await queue.lease(for: alice, to: second, limit: 1, until: base + 5_000)
            _ = try await queue.lease(for: bob, to: first, limit: 1, until: base + 1_000)

            #expect(try await queue.expireLeases(now: base + 500) == 0)
            #expect(try await queue.expireLeases(now: base + 1_000) == 0)  // runs out at 1 000, not before
            // The first holder renews all its leases, in both inboxes, past the second's.
            try await queue.renew(first, until: base + 9_000)
            #expect(try await queue.expireLeases(now: base + 5_001) == 1)
            #expect(try await queue.lease(for: alice, to: LeaseHolder(3), limit: 10, until: base + 100_000).map(\.id) == [ids[2], ids[3]])
            #expect(try await queue.expireLeases(now: base + 9_001) == 3)
            #expect(try await queue.lease(for: alice, to: second, limit: 10, until: base + 100_000).map(\.id) == [ids[0], ids[1]])
            #expect(try await queue.lease(for: bob, to: second, limit: 10, until: base + 100_000).map(\.id) == bobs)

            // An expired holder renewing gets nothing back; releasing it frees nothing of the others'.
            try await queue.renew(first, until: base + 200_000)
            try await queue.release(first)
            #expect(try await queue.expireLeases(now: base + 100_001) == 5)
            #expect(try await queue.waitingCount(for: alice) == 4)
        }
    }

    @Test("enqueue within a cap: refused at the inbox's cap and at a sender's share, in messages and bytes; an ACK makes room", arguments: StoreKind.available)
    func cap(kind: StoreKind) async throws {
        try await AccountTestStores.with(kind) { stores in
            let queue = stores.envelopes
            let cap = InboxCap(maxMessages: 5, maxBytes: 1000, maxMessagesPerSender: 3, maxBytesPerSender: 600)
            func send(_ sender: AccountID, _ bytes: Int, to recipient: AccountID? = nil) async throws -> InboxAdmission {
                try await queue.enqueue(to: recipient ?? alice, from: sender, envelope: [UInt8](repeating: 7, count: bytes),
                                        storedAt: 1_700_000_000_000, within: cap)
            }
            var bobs: [MessageID] = []
            for _ in 0..<3 {
                guard case .stored(let id) = try await send(bob, 10) else { Issue.record("refused under the cap"); return }
                bobs.append(id)
            }
            #expect(try await send(bob, 10) == .senderShareFull)
            // Leased envelopes still count.
            _ = try await queue.lease(for: alice, to: first, limit: 10, until: later)
            #expect(try await send(bob, 10) == .senderShareFull)
            // The share in bytes, for another sender.
            #expect(try await send(carol, 601) == .senderShareFull)
            guard case .stored = try await send(carol, 590) else { Issue.record("refused under the cap"); return }
            // The inbox's bytes: 30 + 590 + 400 > 1000.
            #expect(try await send(V3Fixtures.accountID(0xdd), 400) == .inboxFull)
            guard case .stored = try await send(V3Fixtures.accountID(0xdd), 300) else { Issue.record("refused under the cap"); return }
            // Five waiting: the inbox's count.
            #expect(try await send(V3Fixtures.accountID(0xee), 1) == .inboxFull)
            #expect(try await queue.waitingCount(for: alice) == 5)
            // Other inboxes are their own.
            guard case .stored = try await send(bob, 10, to: carol) else { Issue.record("another inbox refused"); return }
            // An acknowledgement makes room for that sender again.
            #expect(try await queue.acknowledge([bobs[0]], for: alice) == 1)
            guard case .stored = try await send(bob, 10) else { Issue.record("refused after an ACK"); return }
            // Expired envelopes free the inbox too.
            #expect(try await send(V3Fixtures.accountID(0xee), 1) == .inboxFull)
            #expect(try await queue.expire(storedBefore: 1_700_000_000_001) == 6)
            for _ in 0..<3 {
                guard case .stored = try await send(bob, 10) else { Issue.record("refused after expiry"); return }
            }
            #expect(try await queue.waitingCount(for: alice) == 3)
        }
    }

    @Test("capped enqueues at once, into several inboxes from several senders, stop exactly at each inbox's cap and each sender's share", arguments: StoreKind.available)
    func capUnderConcurrency(kind: StoreKind) async throws {
        try await AccountTestStores.with(kind) { stores in
            let queue = stores.envelopes
            let cap = InboxCap(maxMessages: 30, maxBytes: 1 << 20, maxMessagesPerSender: 12, maxBytesPerSender: 1 << 20)
            let recipients = [alice, bob, carol]
            let senders = (0..<4).map { V3Fixtures.accountID(0x50, UInt8($0)) }
            // 4 senders × 20 each into every inbox, all at once: each sender is held to its
            // share (12), and the inbox to its cap (30), however the enqueues are batched.
            let admissions = try await withThrowingTaskGroup(of: (AccountID, AccountID, InboxAdmission).self) { group in
                for recipient in recipients {
                    for sender in senders {
                        for index in 0..<20 {
                            group.addTask {
                                (recipient, sender, try await queue.enqueue(
                                    to: recipient, from: sender, envelope: [UInt8(index), 1, 2], storedAt: 1_700_000_000_000, within: cap))
                            }
                        }
                    }
                }
                var all: [(AccountID, AccountID, InboxAdmission)] = []
                for try await admission in group { all.append(admission) }
                return all
            }
            for recipient in recipients {
                let mine = admissions.filter { $0.0 == recipient }
                let stored = mine.filter { if case .stored = $0.2 { true } else { false } }
                #expect(stored.count == 30)
                #expect(try await queue.waitingCount(for: recipient) == 30)
                for sender in senders {
                    #expect(stored.filter { $0.1 == sender }.count <= 12)
                }
                let ids = stored.compactMap { if case .stored(let id) = $0.2 { id } else { nil } }
                #expect(Set(ids).count == 30)
                #expect(try await queue.lease(for: recipient, to: first, limit: 100, until: later).map(\.id) == ids.sorted())
            }
        }
    }

    @Test("holders leasing at once while envelopes are stored and acknowledged never share one, and each is leased", arguments: StoreKind.available)
    func leasesUnderConcurrency(kind: StoreKind) async throws {
        try await AccountTestStores.with(kind) { stores in
            let queue = stores.envelopes
            // More than an inbox a store may keep in memory (SQLite follows up to 512), so that
            // leases read the table, then follow the inbox again once acknowledgements shrink it.
            let early = try await fill(queue, for: alice, from: bob, 600)
            let holders = (1...6).map { LeaseHolder(UInt64($0)) }
            let leased = try await withThrowingTaskGroup(of: [MessageID].self) { group in
                group.addTask {
                    // Stored meanwhile, one by one.
                    _ = try await self.fill(queue, for: alice, from: carol, 200, from: 600)
                    return []
                }
                for holder in holders {
                    group.addTask {
                        var mine: [MessageID] = []
                        var idle = 0
                        while idle < 50 {
                            let batch = try await queue.lease(for: alice, to: holder, limit: 16, until: self.later)
                            if batch.isEmpty { idle += 1; await Task.yield(); continue }
                            idle = 0
                            #expect(batch.map(\.id) == batch.map(\.id).sorted())
                            mine += batch.map(\.id)
                            #expect(try await queue.acknowledge(batch.map(\.id), for: alice) == batch.count)
                        }
                        return mine
                    }
                }
                var all: [MessageID] = []
                for try await ids in group { all += ids }
                return all
            }
            #expect(leased.count == Set(leased).count)
            // Whatever was stored after the holders gave up is still there, unleased.
            let rest = try await queue.lease(for: alice, to: LeaseHolder(99), limit: 1_000, until: later)
            #expect(Set(leased).isDisjoint(with: rest.map(\.id)))
            #expect(leased.count + rest.count == 800)
            #expect(Set(early).isSubset(of: Set(leased)))
            #expect(try await queue.waitingCount(for: alice) == rest.count)
        }
    }

    @Test("an inbox of large envelopes (over 1 MiB in all) leases every field, in order, as it fills and drains", arguments: StoreKind.available)
    func largeInbox(kind: StoreKind) async throws {
        try await AccountTestStores.with(kind) { stores in
            let queue = stores.envelopes
            func body(_ index: Int) -> [UInt8] { (0..<60_000).map { UInt8(truncatingIfNeeded: $0 &+ index &* 31) } }
            var ids: [MessageID] = []
            for index in 0..<12 { ids.append(try await queue.enqueue(to: alice, from: bob, envelope: body(index), storedAt: UInt64(index))) }
            let first = try await queue.lease(for: alice, to: self.first, limit: 4, until: later)
            #expect(first.map(\.id) == Array(ids[0..<4]))
            #expect(first.map(\.envelope) == (0..<4).map(body))
            #expect(try await queue.acknowledge(first.map(\.id), for: alice) == 4)
            // Stored while the inbox is leased from: more than 1 MiB waits, then less.
            for index in 12..<24 { ids.append(try await queue.enqueue(to: alice, from: carol, envelope: body(index), storedAt: UInt64(index))) }
            var seen = first
            while true {
                let batch = try await queue.lease(for: alice, to: second, limit: 5, until: later)
                if batch.isEmpty { break }
                seen += batch
                #expect(try await queue.acknowledge(batch.map(\.id), for: alice) == batch.count)
            }
            #expect(seen.map(\.id) == ids)
            #expect(seen.map(\.envelope) == (0..<24).map(body))
            #expect(seen.map(\.sender) == Array(repeating: bob, count: 12) + Array(repeating: carol, count: 12))
            #expect(try await queue.waitingCount(for: alice) == 0)
        }
    }

    @Test("expire(storedBefore:): deletes the old envelopes of every inbox, leased or not, and nothing newer", arguments: StoreKind.available)
    func expireOld(kind: StoreKind) async throws {
        try await AccountTestStores.with(kind) { stores in
            let queue = stores.envelopes
            let ids = try await fill(queue, for: alice, from: bob, 4)  // stored at base + 0 ... 3
            let bobs = try await fill(queue, for: bob, from: alice, 2, from: 10)
            _ = try await queue.lease(for: alice, to: first, limit: 1, until: later)
            #expect(try await queue.expire(storedBefore: 1_700_000_000_000) == 0)
            #expect(try await queue.expire(storedBefore: 1_700_000_000_002) == 2)
            #expect(try await queue.lease(for: alice, to: second, limit: 10, until: later).map(\.id) == [ids[2], ids[3]])
            #expect(try await queue.waitingCount(for: bob) == 2)
            #expect(try await queue.expire(storedBefore: 1_700_000_000_011) == 3)
            #expect(try await queue.waitingCount(for: alice) == 0)
            #expect(try await queue.lease(for: bob, to: second, limit: 10, until: later).map(\.id) == [bobs[1]])
            // An acknowledgement of an expired envelope is harmless.
            #expect(try await queue.acknowledge(ids, for: alice) == 0)
        }
    }
}
