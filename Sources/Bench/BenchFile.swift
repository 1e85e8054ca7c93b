import Adapters
import Domain
import NIOCore
import SeedWire

/// The file case of `sealpost bench`: one file message (type 4) of M MiB goes up from the
/// first client to the second and comes back in a pull, streamed both ways in 1 MiB
/// pieces (never held whole), its digest checked.
struct BenchFile {
    let address: BlockingSeedAddress
    let mebibytes: Int
    let version: UInt8
    let serverPID: Int32?

    static let chunkSize = 1 << 20

    struct Outcome {
        var uploadSeconds: Double
        var downloadSeconds: Double
        var intact: Bool
        var peakRSSAfterUploadKiB: UInt64?
        var peakRSSKiB: UInt64?
        var detail: String
    }

    /// A reproducible byte stream (xorshift words) and a word-wise digest over it: both
    /// cost a fraction of a nanosecond per byte, so the generator is never what limits.
    struct Pattern {
        var random = BenchRandom(state: 42)
        var digest: UInt64 = 0xcbf2_9ce4_8422_2325

        mutating func fill(_ buffer: UnsafeMutableRawBufferPointer) {
            let words = buffer.count / 8
            for index in 0..<words {
                buffer.storeBytes(of: random.next().littleEndian, toByteOffset: index * 8, as: UInt64.self)
            }
        }
    }

    /// Folds `buffer` (a whole number of 8-byte words) into `digest`.
    static func absorb(_ buffer: UnsafeRawBufferPointer, into digest: inout UInt64) {
        let words = buffer.count / 8
        var hash = digest
        for index in 0..<words {
            hash = (hash ^ buffer.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)) &* 0x100_0000_01b3
        }
        digest = hash
    }

    func run(from sender: ClientID, to recipient: ClientID) throws -> Outcome {
        let size = mebibytes << 20
        precondition(size % 8 == 0)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunkSize, alignment: 8)
        defer { buffer.deallocate() }

        // Up: 103 with a type-4 content of `size` bytes.
        let upStart = benchMicros()
        let head = SeedClientRequest.sendHead(type: MessageKind.file.rawValue, contentSize: UInt32(size), to: recipient, from: sender, version: version)
        var pattern = Pattern()
        var sentDigest: UInt64 = 0xcbf2_9ce4_8422_2325
        let upload = try BlockingSeedSocket(connectingTo: address, timeoutSeconds: 600)
        try upload.write(head)
        var left = size
        while left > 0 {
            let piece = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<min(left, Self.chunkSize)])
            pattern.fill(piece)
            Self.absorb(UnsafeRawBufferPointer(piece), into: &sentDigest)
            try upload.write(UnsafeRawBufferPointer(piece))
            left -= piece.count
        }
        let (upCode, _) = try upload.readResponse()
        let uploadSeconds = Double(benchMicros() - upStart) / 1e6
        let rssAfterUpload = serverPID.flatMap(benchPeakRSSKiB)

        // Down: the recipient pulls; every entry is read in pieces, the file's digested.
        let downStart = benchMicros()
        let download = try BlockingSeedSocket(connectingTo: address, timeoutSeconds: 600)
        try download.write(SeedClientRequest.pull(requester: recipient, version: version))
        let pulled = try download.readResponseHeader()
        let downCode = pulled.code
        var remaining = Int(pulled.payloadSize)
        var receivedDigest: UInt64?
        var entries = 0
        while remaining > 0 {
            let raw = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<SeedWire.messageEntryHeaderSize])
            try download.readExactly(into: raw)
            let entry = PulledMessageHeader(bytes: UnsafeRawBufferPointer(raw))
            let length = Int(entry.contentSize)
            var digest: UInt64 = 0xcbf2_9ce4_8422_2325
            var bodyLeft = length
            while bodyLeft > 0 {
                let piece = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<min(bodyLeft, Self.chunkSize)])
                try download.readExactly(into: piece)
                Self.absorb(UnsafeRawBufferPointer(piece), into: &digest)
                bodyLeft -= piece.count
            }
            if entry.type == MessageKind.file.rawValue, length == size { receivedDigest = digest }
            entries += 1
            remaining -= SeedWire.messageEntryHeaderSize + length
        }
        let downloadSeconds = Double(benchMicros() - downStart) / 1e6
        let intact = upCode == SeedResponseCode.sent.rawValue && downCode == SeedResponseCode.messages.rawValue && receivedDigest == sentDigest
        return Outcome(
            uploadSeconds: uploadSeconds, downloadSeconds: downloadSeconds, intact: intact,
            peakRSSAfterUploadKiB: rssAfterUpload, peakRSSKiB: serverPID.flatMap(benchPeakRSSKiB),
            detail: "send code \(upCode), pull code \(downCode), \(entries) entries, digest \(receivedDigest == sentDigest ? "matches" : "differs")")
    }
}
