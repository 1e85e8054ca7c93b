import Application
import Foundation

/// Reads a regular file in pieces with `read(2)`.
final class LocalFileReader: FileReader {
    let size: UInt64
    private let path: String
    private var fd: Int32

    init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw ClientError.localFile(path: path, reason: String(cString: strerror(errno)))
        }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            Foundation.close(fd)
            throw ClientError.localFile(path: path, reason: "not a regular file")
        }
        size = UInt64(info.st_size)
    }

    deinit { close() }

    func read(upTo maximum: Int) throws -> [UInt8] {
        guard fd >= 0 else { return [] }
        var buffer = [UInt8](repeating: 0, count: maximum)
        let count = buffer.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress, maximum) }
        guard count >= 0 else {
            throw ClientError.localFile(path: path, reason: String(cString: strerror(errno)))
        }
        buffer.removeLast(maximum - count)
        return buffer
    }

    func close() {
        if fd >= 0 {
            Foundation.close(fd)
            fd = -1
        }
    }
}
