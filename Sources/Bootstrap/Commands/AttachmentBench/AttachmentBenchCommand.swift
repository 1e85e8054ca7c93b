import Adapters
import ArgumentParser
import Domain
import Foundation
import NIOCore
import SealpostWire

/// `sealpost attachment-bench`: one attachment up and down through a v3 server, each way cut
/// in the middle and resumed on a new connection, checked byte for byte (SHA-256), with the
/// throughput and, given its pid, the server's peak RSS. scripts/big-attachment runs it.
struct AttachmentBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attachment-bench",
        abstract: "Upload and download one v3 attachment, cut and resumed both ways, and check it.",
        discussion: """
            Registers two accounts; the first uploads --size bytes (generated, not stored on the \
            client) for the second in pipelined ATTACH_WRITEs, drops the connection at --cut of \
            the way, reconnects, asks ATTACH_STATUS and resumes. The second downloads it the same \
            way, cut and resumed, then sends ATTACH_DONE. Exits 1 unless the SHA-256 of what came \
            back equals that of what went up.
            """
    )

    @Option(name: .long, help: "The v3 server's host.")
    var host = "127.0.0.1"

    @Option(name: .long, help: "The v3 server's port.")
    var port = 1235

    @Option(name: .long, help: "The server's fingerprint (64 hex digits), pinned.")
    var serverFingerprint: String

    @Option(name: .long, help: "Attachment size: bytes, or with K, M or G (binary).")
    var size = "64M"

    @Option(name: .long, help: "Where to cut each transfer, as a fraction (0 < cut < 1; 0: no cut).")
    var cut = 0.5

    @Option(name: .long, help: "Bytes per write or read request.")
    var chunk = 512 * 1024

    @Option(name: .long, help: "Requests in flight.")
    var window = 8

    @Option(name: .long, help: "The server's process id, to report its peak RSS (VmHWM).")
    var serverPid: Int32?

    func validate() throws {
        guard ServerFingerprint(hex: serverFingerprint) != nil else { throw ValidationError("--server-fingerprint: 64 hex digits") }
        guard Self.parseSize(size) != nil else { throw ValidationError("--size: a number of bytes, or with K, M or G") }
        guard cut >= 0, cut < 1 else { throw ValidationError("--cut must be in [0, 1)") }
        guard chunk >= 1024 else { throw ValidationError("--chunk must be at least 1024") }
        guard (1...256).contains(window) else { throw ValidationError("--window must be 1...256") }
    }

    static func parseSize(_ text: String) -> UInt64? {
        let units: [Character: UInt64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        if let last = text.last, let unit = units[Character(last.uppercased())] {
            return UInt64(text.dropLast()).map { $0 * unit }
        }
        return UInt64(text)
    }

    func run() async throws {
        let total = Self.parseSize(size)!
        let verification = ServerVerification.pinned(ServerFingerprint(hex: serverFingerprint)!)
        let tag = UInt32.random(in: 0...UInt32.max)
        let uploader = try BenchAccount(name: "bench-up-\(tag)")
        let recipient = try BenchAccount(name: "bench-down-\(tag)")
        let cutAt: UInt64? = cut > 0 ? UInt64(Double(total) * cut) : nil
        let (chunk, window) = (self.chunk, self.window)
        let connect = { @Sendable (body: (inout AttachmentTransfer) async throws -> Void) async throws in
            try await SecureConnection.withConnection(host: host, port: port, verification: verification) { session in
                var transfer = AttachmentTransfer(session: session, chunk: chunk, window: window)
                try await body(&transfer)
            }
        }
        // The recipient first, so that the upload can name it.
        let recipientID = try await Self.value { result in
            try await connect { transfer in result = try await recipient.register(on: &transfer) }
        }
        let uploaderID = try await Self.value { result in
            try await connect { transfer in result = try await uploader.register(on: &transfer) }
        }
        let generator = BenchBytes(seed: UInt64(tag))
        let sent = OpenSSLSHA256()
        var hashed: UInt64 = 0
        let source = { (offset: UInt64, count: Int) throws -> ByteBuffer in
            let buffer = generator.bytes(at: offset, count: count)
            // Hash each byte once, in order, though a resumed upload sends some twice.
            let end = offset + UInt64(count)
            if end > hashed {
                let skip = Int(hashed - offset)
                buffer.withUnsafeReadableBytes { sent.update(UnsafeRawBufferPointer(rebasing: $0[skip...])) }
                hashed = end
            }
            return buffer
        }

        // Upload: cut, then resumed from ATTACH_STATUS on a new connection.
        let upStart = ContinuousClock.now
        var attachment: AttachmentID?
        var cutStored: UInt64 = 0
        try await connect { transfer in
            try await uploader.authenticate(uploaderID, on: &transfer)
            let id = try await transfer.create(size: total, recipients: [recipientID])
            attachment = id
            cutStored = try await transfer.upload(id, from: 0, to: total, cutAt: cutAt, source: source)
        }
        let id = attachment!
        var resumedFrom: UInt64 = 0
        try await connect { transfer in
            try await uploader.authenticate(uploaderID, on: &transfer)
            resumedFrom = try await transfer.status(id).stored
            let stored = try await transfer.resumeUpload(id, source: source)
            guard stored == total else { throw AttachmentTransfer.Failure.broken("upload ended at \(stored) of \(total)") }
        }
        let upSeconds = Self.seconds(since: upStart)
        print("upload: \(Self.mib(total)) MiB in \(Self.format(upSeconds)) s, \(Self.format(Double(total) / upSeconds / 1_048_576)) MiB/s; cut after \(cutStored) bytes confirmed, resumed at \(resumedFrom)")

        // Download: cut, then resumed from where the copy ends.
        let received = OpenSSLSHA256()
        let sink = { (data: ByteBuffer) in data.withUnsafeReadableBytes { received.update($0) } }
        let downStart = ContinuousClock.now
        var have: UInt64 = 0
        try await connect { transfer in
            try await recipient.authenticate(recipientID, on: &transfer)
            have = try await transfer.download(id, from: 0, to: total, cutAt: cutAt, sink: sink)
        }
        let cutHave = have
        var left = -1
        try await connect { transfer in
            try await recipient.authenticate(recipientID, on: &transfer)
            let status = try await transfer.status(id)
            guard status.isComplete else { throw AttachmentTransfer.Failure.broken("the attachment is not complete") }
            have = try await transfer.download(id, from: have, to: total, sink: sink)
            if case .attachmentRecipientsLeft(let count) = try await transfer.call(.attachDone(id)) { left = Int(count) }
        }
        let downSeconds = Self.seconds(since: downStart)
        print("download: \(Self.mib(total)) MiB in \(Self.format(downSeconds)) s, \(Self.format(Double(total) / downSeconds / 1_048_576)) MiB/s; cut at \(cutHave), resumed there")

        let up = HexBytes.encode(sent.finish())
        let down = HexBytes.encode(received.finish())
        print("sha256 up   \(up)")
        print("sha256 down \(down)")
        print("recipients left after ATTACH_DONE: \(left)")
        if let serverPid, let peak = Self.peakRSS(of: serverPid) {
            print("server peak RSS (VmHWM): \(peak / 1024) MiB")
        }
        guard up == down, have == total, left == 0 else {
            print("FAILED: the attachment did not come back byte for byte, or was not deleted")
            throw ExitCode(1)
        }
        print("OK")
    }

    /// Runs `body` to fill in a value.
    static func value<T>(_ body: (inout T?) async throws -> Void) async throws -> T {
        var result: T?
        try await body(&result)
        return result!
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    static func format(_ value: Double) -> String { String(format: "%.1f", value) }

    static func mib(_ bytes: UInt64) -> String { format(Double(bytes) / 1_048_576) }

    /// VmHWM of `pid`, in KiB, from /proc.
    static func peakRSS(of pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return Int(line.split(separator: " ").dropFirst().first ?? "")
        }
        return nil
    }
}
