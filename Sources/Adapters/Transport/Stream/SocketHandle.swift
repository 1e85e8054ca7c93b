import CLinuxNet
import Glibc

/// A connected socket's descriptor, usable only until it is closed.
///
/// Descriptor numbers are reused as soon as they are closed: a stale number kept by
/// mistake would read, write or shut down whatever socket was opened next with the same
/// number, another client's. After `close()` every operation here fails with `EBADF`
/// without a system call, so a number that may already name another socket is never
/// passed to the kernel again.
struct SocketHandle {
    /// The descriptor, or -1 once closed.
    private(set) var descriptor: Int32

    init(_ descriptor: Int32) {
        self.descriptor = descriptor
    }

    var isOpen: Bool { descriptor >= 0 }

    /// Closes the descriptor (once; later calls do nothing).
    mutating func close() {
        guard descriptor >= 0 else { return }
        Glibc.close(descriptor)
        descriptor = -1
    }

    /// `read(2)` into `buffer`: the count, or `-errno`.
    func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        guard descriptor >= 0 else { return -Int(EBADF) }
        let result = Glibc.read(descriptor, buffer.baseAddress, buffer.count)
        return result < 0 ? -Int(errno) : result
    }

    /// `send(2)` without SIGPIPE: the count, or `-errno`.
    func send(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard descriptor >= 0 else { return -Int(EBADF) }
        let result = Glibc.send(descriptor, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
        return result < 0 ? -Int(errno) : result
    }

    /// Ends our sending side. 0, or the `errno`.
    func shutdownOutput() -> Int32 {
        guard descriptor >= 0 else { return EBADF }
        return Glibc.shutdown(descriptor, Int32(SHUT_WR)) == 0 ? 0 : errno
    }

    /// Turns Nagle's algorithm off. 0, or the `errno`.
    func setNoDelay() -> Int32 {
        guard descriptor >= 0 else { return EBADF }
        var one: Int32 = 1
        return setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size)) == 0 ? 0 : errno
    }

    /// Bytes written but not yet acknowledged by the peer (`SIOCOUTQ`), or `-errno`.
    func unacknowledgedBytes() -> Int {
        guard descriptor >= 0 else { return -Int(EBADF) }
        let count = sealpost_unacknowledged_bytes(descriptor)
        return count < 0 ? -Int(errno) : Int(count)
    }
}
