#if canImport(Glibc)
import Glibc
#endif

/// Writes to stdout and stderr with `write(2)`, never through `FileHandle`, whose write
/// traps when the reader has gone (`sealpost menu | head -1`). When the reader of a
/// stream has closed it (EPIPE), there is no one left to tell anything: the process ends
/// quietly with status 0, as a pipeline expects of a producer cut short.
enum StandardStreams {
    /// Ignores SIGPIPE so that a closed pipe surfaces as EPIPE here instead of a signal.
    static func install() {
        signal(SIGPIPE, SIG_IGN)
    }

    static func out(_ text: String) { write(text, to: STDOUT_FILENO) }

    static func error(_ text: String) { write(text, to: STDERR_FILENO) }

    private static func write(_ text: String, to fd: Int32) {
        var bytes = Array(text.utf8)
        var offset = 0
        bytes.withUnsafeMutableBytes { raw in
            while offset < raw.count {
                let count = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if count >= 0 {
                    offset += count
                } else if errno == EINTR || errno == EAGAIN {
                    continue
                } else if errno == EPIPE {
                    exit(0)
                } else {
                    return  // Nothing sensible can report a failing stdout or stderr.
                }
            }
        }
        _ = bytes
    }
}
