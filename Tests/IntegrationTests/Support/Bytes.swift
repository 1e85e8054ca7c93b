import Foundation

/// Large test contents, built and compared without per-byte work on the cooperative pool
/// (a per-byte closure over megabytes in a debug build blocks a pool thread for seconds).
enum Bytes {
    /// `count` bytes of a pseudo-random pattern with a period of 65,537 bytes: a prime, so
    /// no chunk or buffer size lines up with it and a reordered or repeated piece shows.
    static func pattern(count: Int) -> [UInt8] {
        let period = (0..<65_537).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        while bytes.count < count {
            bytes += period.prefix(count - bytes.count)
        }
        return bytes
    }

    /// Byte equality through `memcmp`.
    static func same(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.count == b.count && a.withUnsafeBytes { x in b.withUnsafeBytes { y in a.isEmpty || memcmp(x.baseAddress!, y.baseAddress!, a.count) == 0 } }
    }
}
