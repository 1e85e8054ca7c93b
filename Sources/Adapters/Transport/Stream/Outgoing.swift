import Glibc
import NIOCore

/// Bytes waiting to be written.
enum Outgoing {
    case buffer(ByteBuffer)
    case array([UInt8], offset: Int)

    var count: Int {
        switch self {
        case .buffer(let buffer): buffer.readableBytes
        case .array(let bytes, let offset): bytes.count - offset
        }
    }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch self {
        case .buffer(let buffer):
            try buffer.withUnsafeReadableBytes(body)
        case .array(let bytes, let offset):
            try bytes.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
        }
    }

    mutating func consume(_ count: Int) {
        switch self {
        case .buffer(var buffer):
            buffer.moveReaderIndex(forwardBy: count)
            self = .buffer(buffer)
        case .array(let bytes, let offset):
            self = .array(bytes, offset: offset + count)
        }
    }
}

/// "address:port" of a socket address, for logs.
func describe(_ storage: sockaddr_storage) -> String {
    var storage = storage
    var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
    let family = Int32(storage.ss_family)
    return withUnsafePointer(to: &storage) { pointer -> String in
        switch family {
        case AF_INET:
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                var ip = address.pointee.sin_addr
                inet_ntop(AF_INET, &ip, &text, socklen_t(text.count))
                return "\(cString(text)):\(UInt16(bigEndian: address.pointee.sin_port))"
            }
        case AF_INET6:
            return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                var ip = address.pointee.sin6_addr
                inet_ntop(AF_INET6, &ip, &text, socklen_t(text.count))
                return "[\(cString(text))]:\(UInt16(bigEndian: address.pointee.sin6_port))"
            }
        default:
            return "?"
        }
    }
}

private func cString(_ characters: [CChar]) -> String {
    let bytes = characters.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}
