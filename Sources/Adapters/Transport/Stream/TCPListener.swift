import CLinuxNet
import Glibc
import NIOCore

/// A listening TCP socket, non-blocking, shared by the loops of one server.
enum TCPListener {
    /// Opens `host`:`port` and listens; returns the descriptor and the bound address (with
    /// the real port when `port` is 0).
    static func open(host: String, port: Int, backlog: Int32) throws -> (Int32, SocketAddress) {
        guard (0...65535).contains(port) else { throw SocketError.system(call: "bind (port \(port))", errno: EINVAL) }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var results: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &results)
        guard status == 0, let first = results else {
            throw SocketError.system(call: "getaddrinfo(\(host)): \(String(cString: gai_strerror(status)))", errno: EINVAL)
        }
        defer { freeaddrinfo(results) }
        let fd = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError.system(call: "socket", errno: errno) }
        var one: Int32 = 1
        guard setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            let code = errno
            Glibc.close(fd)
            throw SocketError.system(call: "setsockopt(SO_REUSEADDR)", errno: code)
        }
        guard Glibc.bind(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            let code = errno
            Glibc.close(fd)
            throw SocketError.system(call: "bind \(host):\(port)", errno: code)
        }
        guard listen(fd, backlog) == 0 else {
            let code = errno
            Glibc.close(fd)
            throw SocketError.system(call: "listen", errno: code)
        }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else {
            let code = errno
            Glibc.close(fd)
            throw SocketError.system(call: "getsockname", errno: code)
        }
        let family = Int32(storage.ss_family)
        let address: SocketAddress = withUnsafePointer(to: &storage) { pointer in
            if family == AF_INET6 {
                pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { SocketAddress($0.pointee) }
            } else {
                pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { SocketAddress($0.pointee) }
            }
        }
        return (fd, address)
    }
}
