import SeedWire
#if canImport(Glibc)
// CLinuxNet too: since other files of the module import it (its headers include the netinet
// ones), the release (whole-module) build finds IPPROTO_TCP here only with it.
import CLinuxNet
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a blocking seed-protocol exchange failed. Every throwing call of
/// `BlockingSeedSocket` and `BlockingSeedAddress` throws only this.
public enum BlockingSeedSocketError: Error, Hashable, Sendable, CustomStringConvertible {
    /// `HOST:PORT` could not be parsed or resolved.
    case badAddress(String)
    /// A system call failed with `errno`.
    case system(call: String, errno: Int32)
    /// The peer closed the connection before `expected` bytes arrived.
    case closed(expected: Int, received: Int)

    public var description: String {
        switch self {
        case .badAddress(let text): "cannot resolve address \"\(text)\" (expected HOST:PORT)"
        case .system(let call, let code): "\(call) failed: \(String(cString: strerror(code)))"
        case .closed(let expected, let received): "peer closed after \(received) of \(expected) bytes"
        }
    }
}

/// A resolved IPv4/IPv6 socket address, resolved once and reused for every connection.
public struct BlockingSeedAddress: Sendable, CustomStringConvertible {
    private let storage: [UInt8]
    private let family: Int32
    public let description: String

    /// Resolves `HOST:PORT` (`[v6]:PORT` for IPv6 literals).
    public init(_ text: String) throws {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else {
            throw BlockingSeedSocketError.badAddress(text)
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let first = result else {
            throw BlockingSeedSocketError.badAddress(text)
        }
        defer { freeaddrinfo(result) }
        // Prefer IPv4: "localhost" often resolves to ::1 first while servers here listen
        // on 127.0.0.1.
        var chosen = first
        var next: UnsafeMutablePointer<addrinfo>? = first
        while let candidate = next {
            if candidate.pointee.ai_family == AF_INET { chosen = candidate; break }
            next = candidate.pointee.ai_next
        }
        self.family = chosen.pointee.ai_family
        self.storage = Array(UnsafeRawBufferPointer(start: chosen.pointee.ai_addr, count: Int(chosen.pointee.ai_addrlen)))
        self.description = text
    }

    func withSockaddr<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        storage.withUnsafeBytes { raw in
            body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
        }
    }

    var socketFamily: Int32 { family }
}

/// One TCP connection with blocking reads and writes, for load generators and tests that
/// speak the seed protocol as the original client does: connect, write one request,
/// read one response (docs/protocol-v2.md §2).
///
/// Deliberately free of NIO and of any allocation per call beyond the caller's buffers,
/// so that a thread per connection costs what the kernel charges and no more.
public struct BlockingSeedSocket: ~Copyable {
    private let fd: Int32

    /// Connects with `TCP_NODELAY` and a receive timeout.
    public init(connectingTo address: BlockingSeedAddress, timeoutSeconds: Int = 30) throws {
        #if canImport(Glibc)
        let type = Int32(SOCK_STREAM.rawValue)
        #else
        let type = SOCK_STREAM
        #endif
        let fd = socket(address.socketFamily, type, 0)
        guard fd >= 0 else { throw BlockingSeedSocketError.system(call: "socket", errno: errno) }
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        if timeoutSeconds > 0 {
            var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
            _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }
        let status = address.withSockaddr { pointer, length in connect(fd, pointer, length) }
        guard status == 0 else {
            let code = errno
            close(fd)
            throw BlockingSeedSocketError.system(call: "connect", errno: code)
        }
        self.fd = fd
    }

    deinit {
        close(fd)
    }

    /// Writes every byte of `bytes` (never raises SIGPIPE).
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard var pointer = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            let sent = send(fd, pointer, left, Int32(MSG_NOSIGNAL))
            if sent < 0 {
                if errno == EINTR { continue }
                throw BlockingSeedSocketError.system(call: "send", errno: errno)
            }
            pointer += sent
            left -= sent
        }
    }

    /// Writes every byte of `bytes`.
    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { (raw) in try write(raw) }
    }

    /// Fills `buffer` completely, or throws `closed` when the peer ends the stream first.
    public func readExactly(into buffer: UnsafeMutableRawBufferPointer) throws {
        guard let base = buffer.baseAddress else { return }
        var received = 0
        while received < buffer.count {
            let count = recv(fd, base + received, buffer.count - received, 0)
            if count < 0 {
                if errno == EINTR { continue }
                throw BlockingSeedSocketError.system(call: "recv", errno: errno)
            }
            if count == 0 { throw BlockingSeedSocketError.closed(expected: buffer.count, received: received) }
            received += count
        }
    }

    /// Reads one response: its code and its whole payload (for replies known to be small).
    public func readResponse() throws -> (code: UInt16, payload: [UInt8]) {
        let head = try readResponseHeader()
        var payload = [UInt8](repeating: 0, count: Int(head.payloadSize))
        try payload.withUnsafeMutableBytes { (raw) in try readExactly(into: raw) }
        return (head.code, payload)
    }

    /// Reads the 7-byte response head (docs/protocol-v2.md §1.3), parsed by the codec
    /// straight from the stack.
    public func readResponseHeader() throws -> SeedReply.Head {
        var head: (UInt64) = 0
        return try withUnsafeMutableBytes(of: &head) { (raw) in
            try readExactly(into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<SeedWire.responseHeaderSize]))
            return SeedReply.Head(bytes: UnsafeRawBufferPointer(raw))
        }
    }
}
