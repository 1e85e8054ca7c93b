import Application
import Domain
import Testing

/// The `AttachmentStore` contract, written once and run against every store.
@Suite("Attachment store contract")
struct AttachmentStoreContractTests {
    let alice = V3Fixtures.accountID(0xa1)
    let bob = V3Fixtures.accountID(0xb0)
    let carol = V3Fixtures.accountID(0xca)
    let now: UInt64 = 1_800_000_000_000

    private func record(_ id: AttachmentID = .random(), size: UInt64, recipients: [AccountID]? = nil, expiresAt: UInt64? = nil) -> StoredAttachment {
        StoredAttachment(id: id, uploader: alice, recipients: recipients ?? [bob, carol], done: [], size: size, stored: 0,
                         createdAt: now, expiresAt: expiresAt ?? now + 86_400_000)
    }

    private func pattern(_ count: Int, seed: Int = 0) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: ($0 + seed) &* 31 &+ ($0 >> 8)) }
    }

    @Test("create and look up: every field back; unknown ids are nil or notFound", arguments: StoreKind.available)
    func createAndLookUp(kind: StoreKind) async throws {
        try await AccountTestStores.with(kind) { stores in
            let store = stores.attachments
            let created = record(size: 1 << 32)
            try await store.create(created)
            #expect(try await store.attachment(created.id) == created)
            let unknown = AttachmentID.random()
            #expect(try await store.attachment(unknown) == nil)
            await #expect(throws: AttachmentStoreError.notFound) { try await store.append(to: unknown, at: 0, [1]) }
            await #expect(throws: AttachmentStoreError.notFound) { try await store.read(unknown, at: 0, count: 1) }
            await #expect(throws: AttachmentStoreError.notFound) { try await store.markDone(unknown, by: bob) }
            #expect(try await store.delete(unknown) == false)
        }
    }

    @Test("appends are sequential: only at the stored offset, never past the size; reads give the bytes back", arguments: StoreKind.available)
    func sequentialAppends(kind: StoreKind) async throws {
        try await AccountTestStores.with(kind) { stores in
            let store = stores.attachments
            let bytes = pattern(700_000)
            let attachment = record(size: UInt64(bytes.count))
            try await store.create(attachment)
            #expect(try await store.append(to: attachment.id, at: 0, Array(bytes[0..<300_000])) == 300_000)
            // Not at the stored offset: refused, with the offset to use, and nothing changes.
            await #expect(throws: AttachmentStoreError.wrongOffset(stored: 300_000)) {
                try await store.append(to: attachment.id, at: 0, Array(bytes[0..<10]))
            }
            await #expect(throws: AttachmentStoreError.wrongOffset(stored: 300_000)) {
                try await store.append(to: attachment.id, at: 300_001, [1])
            }
            // Past the size: refused whole.
            await #expect(throws: AttachmentStoreError.pastEnd(size: 700_000)) {
                try await store.append(to: attachment.id, at: 300_000, Array(bytes[300_000...]) + [0])
            }
            #expect(try await store.attachment(attachment.id)?.stored == 300_000)
            // Small and odd-sized writes too.
            #expect(try await store.append(to: attachment.id, at: 300_000, [bytes[300_000]]) == 300_001)
            #expect(try await store.append(to: attachment.id, at: 300_001, Array(bytes[300_001...])) == 700_000)
            let complete = try #require(try await store.attachment(attachment.id))
            #expect(complete.isComplete)

            // Reads across write boundaries, at the end, and past it.
            #expect(try await store.read(attachment.id, at: 0, count: 700_000) == bytes)
            #expect(try await store.read(attachment.id, at: 299_990, count: 20) == Array(bytes[299_990..<300_010]))
            #expect(try await store.read(attachment.id, at: 699_990, count: 100) == Array(bytes[699_990...]))
            #expect(try await store.read(attachment.id, at: 700_000, count: 100) == [])
            var gathered: [UInt8] = []
            while gathered.count < bytes.count {
                gathered += try await store.read(attachment.id, at: UInt64(gathered.count), count: 65_521)
            }
            #expect(gathered == bytes)
            // A complete attachment takes no more.
            await #expect(throws: AttachmentStoreError.pastEnd(size: 700_000)) { try await store.append(to: attachment.id, at: 700_000, [1]) }
        }
    }

    @Test("gathered writes: several buffers in one append are stored in order, all or nothing", arguments: StoreKind.available)
    func gatheredAppends(kind: StoreKind) async throws {
        try await AccountTestStores.with(kind) { stores in
            let store = stores.attachments
            let bytes = pattern(500_000, seed: 3)
            let attachment = record(size: UInt64(bytes.count))
            try await store.create(attachment)
            let first = AttachmentChunks([Array(bytes[0..<100_000]), [], Array(bytes[100_000..<100_001]), Array(bytes[100_001..<300_000])])
            #expect(first.count == 300_000)
            #expect(try await store.append(to: attachment.id, at: 0, first) == 300_000)
            // One buffer too many runs past the size: none of them is stored.
            let tooMuch = AttachmentChunks([Array(bytes[300_000..<400_000]), Array(bytes[400_000...]), [0]])
            await #expect(throws: AttachmentStoreError.pastEnd(size: 500_000)) { try await store.append(to: attachment.id, at: 300_000, tooMuch) }
            await #expect(throws: AttachmentStoreError.wrongOffset(stored: 300_000)) {
                try await store.append(to: attachment.id, at: 299_999, AttachmentChunks([[1], [2]]))
            }
            #expect(try await store.attachment(attachment.id)?.stored == 300_000)
            let rest = AttachmentChunks([Array(bytes[300_000..<400_000]), Array(bytes[400_000...])])
            #expect(try await store.append(to: attachment.id, at: 300_000, rest) == 500_000)
            #expect(try await store.read(attachment.id, at: 0, count: 500_000) == bytes)
            #expect(try await store.read(attachment.id, at: 99_999, count: 200_003) == Array(bytes[99_999..<300_002]))
        }
    }

    @Test("a read spanning many small writes gives them all back, from any offset", arguments: StoreKind.available)
    func readAcrossManyWrites(kind: StoreKind) async throws {
        try await AccountTestStores.with(kind) { stores in
            let store = stores.attachments
            // 100 writes of 1,000 bytes: more than one batch of rows for PostgreSQL's reads.
            let bytes = pattern(100_000, seed: 7)
            let attachment = record(size: UInt64(bytes.count))
            try await store.create(attachment)
            for start in stride(from: 0, to: bytes.count, by: 1_000) {
                _ = try await store.append(to: attachment.id, at: UInt64(start), Array(bytes[start..<(start + 1_000)]))
            }
            #expect(try await store.read(attachment.id, at: 0, count: 100_000) == bytes)
            #expect(try await store.read(attachment.id, at: 12_345, count: 80_000) == Array(bytes[12_345..<92_345]))
            #expect(try await store.read(attachment.id, at: 99_500, count: 80_000) == Array(bytes[99_500...]))
        }
    }

    @Test("concurrent appends at one offset: exactly one succeeds", arguments: StoreKind.available)
    func concurrentAppends(kind: StoreKind) async throws {
        try await AccountTestStores.with(kind) { stores in
            let store = stores.attachments
            let attachment = record(size: 1_000_000)
            try await store.create(attachment)
            let chunk = pattern(100_000)
            let outcomes = await withTaskGroup(of: Bool.self) { group in
                for _ in 0..<8 {
                    group.addTask { (try? await store.append(to: attachment.id, at: 0, chunk)) != nil }
                }
                return await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 }.count == 1)
            #expect(try await store.attachment(attachment.id)?.stored == 100_000)
            #expect(try await store.read(attachment.id, at: 0, count: 200_000) == chunk)
        }
    }

    @Test("markDone: the attachment and its storage go when the last recipient is done", arguments: StoreKind.available)
    func doneDeletes(kind: StoreKind) async throws {
        try await AccountTestStores.with(kind) { stores in
            let store = stores.attachments
            let attachment = record(size: 50_000)
            try await store.create(attachment)
            _ = try await store.append(to: attachment.id, at: 0, pattern(50_000))
            #expect(try await store.markDone(attachment.id, by: bob) == 1)
            #expect(try await store.markDone(attachment.id, by: bob) == 1)  // repeated: harmless
            #expect(try await store.attachment(attachment.id)?.done == [bob])
            await #expect(throws: AttachmentStoreError.notFound) { try await store.markDone(attachment.id, by: alice) }
            #expect(try await store.markDone(attachment.id, by: carol) == 0)
            #expect(try await store.attachment(attachment.id) == nil)
            #expect(try await store.usage() == AttachmentUsage(attachments: 0, storageUnits: 0, bytes: 0))
        }
    }

    @Test("delete and expire remove attachments with their storage, complete or not; the rest stays", arguments: StoreKind.available)
    func deleteAndExpire(kind: StoreKind) async throws {
        try await AccountTestStores.with(kind) { stores in
            let store = stores.attachments
            let deleted = record(size: 10_000)
            let complete = record(size: 20_000, expiresAt: now + 1000)
            let abandoned = record(size: 1_000_000, expiresAt: now + 2000)
            let kept = record(size: 30_000, expiresAt: now + 10_000)
            for attachment in [deleted, complete, abandoned, kept] { try await store.create(attachment) }
            _ = try await store.append(to: deleted.id, at: 0, pattern(10_000))
            _ = try await store.append(to: complete.id, at: 0, pattern(20_000))
            _ = try await store.append(to: abandoned.id, at: 0, pattern(300_000))
            _ = try await store.append(to: kept.id, at: 0, pattern(30_000))
            let before = try await store.usage()
            #expect(before.attachments == 4 && before.bytes == 360_000)

            #expect(try await store.delete(deleted.id))
            #expect(try await store.attachment(deleted.id) == nil)
            #expect(try await store.expire(now: now + 999) == 0)
            #expect(try await store.expire(now: now + 2000) == 2)
            #expect(try await store.attachment(complete.id) == nil)
            #expect(try await store.attachment(abandoned.id) == nil)
            #expect(try await store.read(kept.id, at: 0, count: 30_000) == pattern(30_000))
            let after = try await store.usage()
            #expect(after.attachments == 1 && after.bytes == 30_000)
            #expect(try await store.expire(now: now + 10_000) == 1)
            #expect(try await store.usage() == AttachmentUsage(attachments: 0, storageUnits: 0, bytes: 0))
        }
    }
}
