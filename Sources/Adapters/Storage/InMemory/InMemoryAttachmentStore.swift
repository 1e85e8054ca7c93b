import Application
import Domain
import Foundation
import Synchronization

/// v3 attachments for the in-memory store: their metadata in process memory, their bytes in
/// temporary spill files (`AttachmentFiles`), since a 4 GiB attachment cannot live in RAM.
///
/// Nothing survives a restart; `shutdown()` removes the spill directory.
public final class InMemoryAttachmentStore: AttachmentStore {
    private let files: AttachmentFiles
    /// The attachments, without `stored` (the file's length is).
    private let records = Mutex<[AttachmentID: StoredAttachment]>([:])

    public init() {
        files = AttachmentFiles(path: FileManager.default.temporaryDirectory
            .appendingPathComponent("sealpost-attachments-\(UInt64.random(in: 0...UInt64.max))").path)
    }

    public func create(_ attachment: StoredAttachment) async throws {
        try await files.create()
        records.withLock { $0[attachment.id] = attachment }
    }

    public func attachment(_ id: AttachmentID) async throws -> StoredAttachment? {
        guard let record = records.withLock({ $0[id] }) else { return nil }
        return Self.with(record, stored: try await files.length(id))
    }

    public func append(to id: AttachmentID, at offset: UInt64, _ bytes: some AttachmentBytes) async throws -> UInt64 {
        guard let record = records.withLock({ $0[id] }) else { throw AttachmentStoreError.notFound }
        return try await files.append(id, at: offset, bytes, size: record.size)
    }

    public func read(_ id: AttachmentID, at offset: UInt64, count: Int) async throws -> [UInt8] {
        guard records.withLock({ $0[id] }) != nil else { throw AttachmentStoreError.notFound }
        return try await files.read(id, at: offset, count: count)
    }

    public func markDone(_ id: AttachmentID, by recipient: AccountID) async throws -> Int {
        let left: Int? = records.withLock { records in
            guard let record = records[id], record.recipients.contains(recipient) else { return nil }
            var done = record.done
            done.insert(recipient)
            let left = record.recipients.count - done.count
            if left == 0 {
                records[id] = nil
            } else {
                records[id] = StoredAttachment(
                    id: id, uploader: record.uploader, recipients: record.recipients, done: done, size: record.size,
                    stored: 0, createdAt: record.createdAt, expiresAt: record.expiresAt)
            }
            return left
        }
        guard let left else { throw AttachmentStoreError.notFound }
        if left == 0 { await files.remove([id]) }
        return left
    }

    public func delete(_ id: AttachmentID) async throws -> Bool {
        guard records.withLock({ $0.removeValue(forKey: id) }) != nil else { return false }
        await files.remove([id])
        return true
    }

    public func expire(now: UInt64) async throws -> Int {
        let expired = records.withLock { records in
            let ids = records.values.filter { $0.expiresAt <= now }.map(\.id)
            for id in ids { records[id] = nil }
            return ids
        }
        // Files of no attachment (a create that failed half way) go too.
        let known = records.withLock { Set($0.keys) }
        let orphans = try await files.list().map(\.id).filter { !known.contains($0) }
        await files.remove(expired + orphans)
        return expired.count
    }

    public func usage() async throws -> AttachmentUsage {
        let listed = try await files.list()
        return AttachmentUsage(
            attachments: records.withLock { $0.count }, storageUnits: listed.count, bytes: listed.reduce(0) { $0 + $1.length })
    }

    /// Removes every spill file and the directory: call when the server stops.
    public func shutdown() async {
        records.withLock { $0.removeAll() }
        await files.removeAll()
    }

    static func with(_ record: StoredAttachment, stored: UInt64) -> StoredAttachment {
        StoredAttachment(
            id: record.id, uploader: record.uploader, recipients: record.recipients, done: record.done, size: record.size,
            stored: stored, createdAt: record.createdAt, expiresAt: record.expiresAt)
    }
}
