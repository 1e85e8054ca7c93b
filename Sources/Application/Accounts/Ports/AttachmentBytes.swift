/// Bytes handed to an `AttachmentStore` to append, in whatever buffer they arrived in: the
/// store writes them from where they lie, without a copy into an array of its own.
///
/// A value is one or more contiguous regions, in order; `count` is their total.
public protocol AttachmentBytes: Sendable {
    /// How many bytes, all regions together.
    var count: Int { get }

    /// Calls `body` with every region, in order, each valid only during the call.
    func withUnsafeRegions<Result>(_ body: ([UnsafeRawBufferPointer]) throws -> Result) rethrows -> Result
}

extension Array: AttachmentBytes where Element == UInt8 {
    public func withUnsafeRegions<Result>(_ body: ([UnsafeRawBufferPointer]) throws -> Result) rethrows -> Result {
        try withUnsafeBytes { try body([$0]) }
    }
}

/// Consecutive writes gathered into one append: `chunks` in order, as one run of bytes.
public struct AttachmentChunks<Chunk: AttachmentBytes>: AttachmentBytes {
    public let chunks: [Chunk]
    public let count: Int

    public init(_ chunks: [Chunk]) {
        self.chunks = chunks
        self.count = chunks.reduce(0) { $0 + $1.count }
    }

    public func withUnsafeRegions<Result>(_ body: ([UnsafeRawBufferPointer]) throws -> Result) rethrows -> Result {
        try Self.gather(chunks[...], into: [], body)
    }

    /// Every chunk's regions at once: each chunk's closure nests the next one's.
    private static func gather<Result>(_ rest: ArraySlice<Chunk>, into regions: [UnsafeRawBufferPointer],
                                       _ body: ([UnsafeRawBufferPointer]) throws -> Result) rethrows -> Result {
        guard let first = rest.first else { return try body(regions) }
        return try first.withUnsafeRegions { mine in try gather(rest.dropFirst(), into: regions + mine, body) }
    }
}
