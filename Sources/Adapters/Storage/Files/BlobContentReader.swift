#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Application
import Synchronization

/// Streams a blob file in fixed-size pieces, reading on the NIO thread pool.
///
/// The descriptor stays valid after the file is unlinked, so an acknowledgement racing a
/// read does not cut the content short.
final class BlobContentReader: MessageContentReader {
    private struct State {
        var fd: Int32?
        var offset: UInt64 = 0
    }

    private let blobs: BlobDirectory
    private let chunk: Int
    private let state: Mutex<State>

    init(blobs: BlobDirectory, fd: Int32, chunk: Int) {
        self.blobs = blobs
        self.chunk = chunk
        self.state = Mutex(State(fd: fd))
    }

    deinit {
        state.withLock { state in
            if let fd = state.fd { _ = Self.closeDescriptor(fd) }
        }
    }

    /// The next piece, or `nil` after the last (the file is then closed).
    func next() async throws -> [UInt8]? {
        guard let (fd, offset) = state.withLock({ state in state.fd.map { ($0, state.offset) } }) else { return nil }
        let piece = try await blobs.read(from: fd, at: offset, count: chunk)
        guard !piece.isEmpty else {
            await close()
            return nil
        }
        state.withLock { $0.offset += UInt64(piece.count) }
        return piece
    }

    /// Closes the file. Safe to call more than once.
    func close() async {
        let fd: Int32? = state.withLock { state in
            defer { state.fd = nil }
            return state.fd
        }
        if let fd { _ = Self.closeDescriptor(fd) }
    }

    private static func closeDescriptor(_ fd: Int32) -> Int32 {
        #if canImport(Glibc)
        Glibc.close(fd)
        #elseif canImport(Musl)
        Musl.close(fd)
        #else
        Darwin.close(fd)
        #endif
    }
}
