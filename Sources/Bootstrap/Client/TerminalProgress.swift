import Application
import Foundation

/// A progress bar on stderr, shown only when stderr is a terminal and the transfer is
/// larger than `threshold`.
final class TerminalProgress: TransferProgress {
    static let threshold: UInt64 = 4 * 1024 * 1024

    private var label = ""
    private var total: UInt64 = 0
    private var shown = -1
    private var active = false

    /// A reporter when stderr is a terminal, else `nil`.
    static func makeIfTerminal() -> TerminalProgress? {
        isatty(STDERR_FILENO) == 1 ? TerminalProgress() : nil
    }

    func start(label: String, total: UInt64) {
        self.label = label
        self.total = total
        shown = -1
        active = total > Self.threshold
        advance(to: 0)
    }

    func advance(to done: UInt64) {
        guard active, total > 0 else { return }
        let percent = Int(min(done, total) * 100 / total)
        guard percent != shown else { return }
        shown = percent
        let width = 30
        let filled = percent * width / 100
        let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
        let mib = { (bytes: UInt64) in String(format: "%.1f", Double(bytes) / 1_048_576) }
        StandardStreams.error("\r\(label) [\(bar)] \(percent)% \(mib(done))/\(mib(total)) MiB")
    }

    func finish() {
        guard active else { return }
        advance(to: total)
        StandardStreams.error("\n")
        active = false
    }
}
