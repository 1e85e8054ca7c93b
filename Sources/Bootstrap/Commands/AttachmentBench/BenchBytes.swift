import NIOCore

/// The attachment bench's content: pseudo-random bytes that are a function of their offset
/// (SplitMix64 over the 8-byte word index), so any range can be made again without storing
/// anything, at any offset.
struct BenchBytes: Sendable {
    let seed: UInt64

    func bytes(at offset: UInt64, count: Int) -> ByteBuffer {
        let firstWord = offset / 8
        let words = Int((offset + UInt64(count) + 7) / 8 - firstWord)
        let skip = Int(offset % 8)
        var buffer = ByteBuffer()
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: words * 8) { raw in
            for index in 0..<words {
                raw.storeBytes(of: Self.mix(seed &+ firstWord &+ UInt64(index)).littleEndian, toByteOffset: index * 8, as: UInt64.self)
            }
            return words * 8
        }
        return buffer.getSlice(at: skip, length: count)!
    }

    private static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
