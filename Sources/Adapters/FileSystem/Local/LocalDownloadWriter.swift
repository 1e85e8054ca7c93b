import Application
import Foundation

/// Writes a received file under a hidden temporary name and moves it into place (without
/// overwriting anything) only on `commit()`.
final class LocalDownloadWriter: DownloadWriter {
    private let directory: String
    private let name: String
    private let temporary: String
    private var fd: Int32

    init(directory: String, name: String) throws {
        self.directory = directory
        self.name = name
        temporary = (directory as NSString).appendingPathComponent(".\(name).part-\(UInt64.random(in: 0...UInt64.max))")
        fd = open(temporary, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw ClientError.localFile(path: temporary, reason: String(cString: strerror(errno)))
        }
    }

    deinit { discard() }

    func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            guard count > 0 else {
                throw ClientError.localFile(path: temporary, reason: String(cString: strerror(errno)))
            }
            offset += count
        }
    }

    func commit() throws -> String {
        guard fd >= 0 else { throw ClientError.localFile(path: temporary, reason: "already closed") }
        fsync(fd)
        Foundation.close(fd)
        fd = -1
        // link(2) fails when the target exists, so an earlier file is never replaced.
        for attempt in 0..<10_000 {
            let target = (directory as NSString).appendingPathComponent(attempt == 0 ? name : "\(name)-\(attempt)")
            if link(temporary, target) == 0 {
                unlink(temporary)
                return target
            }
            guard errno == EEXIST else { break }
        }
        let reason = String(cString: strerror(errno))
        unlink(temporary)
        throw ClientError.localFile(path: (directory as NSString).appendingPathComponent(name), reason: reason)
    }

    func discard() {
        if fd >= 0 {
            Foundation.close(fd)
            fd = -1
            unlink(temporary)
        }
    }
}
