import Application
import COpenSSL

/// Turns OpenSSL's thread-local error queue into readable text for `CryptoError`.
enum OpenSSLErrorQueue {
    /// Empties the queue before an operation, so that a later failure reports only its own errors.
    static func clear() {
        ERR_clear_error()
    }

    /// Empties the queue and returns its messages, oldest first, joined by "; ".
    static func drain() -> String {
        var messages: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            let text = withUnsafeTemporaryAllocation(of: CChar.self, capacity: 256) { buffer -> String in
                guard let base = buffer.baseAddress else { return "OpenSSL error \(code)" }
                ERR_error_string_n(code, base, buffer.count)
                return String(cString: base)
            }
            messages.append(text)
        }
        return messages.isEmpty ? "no detail from OpenSSL" : messages.joined(separator: "; ")
    }

    /// A `CryptoError.library` for a failed `operation`, carrying the queue's messages.
    static func failure(_ operation: String) -> CryptoError {
        .library(operation: operation, reason: drain())
    }
}
