import Application
import NIOCore

/// An ATTACH_WRITE's data as the frame decoder sliced it: the store writes it from the
/// frame's own storage.
extension ByteBuffer: AttachmentBytes {
    public var count: Int { readableBytes }

    public func withUnsafeRegions<Result>(_ body: ([UnsafeRawBufferPointer]) throws -> Result) rethrows -> Result {
        try withUnsafeReadableBytes { try body([$0]) }
    }
}
