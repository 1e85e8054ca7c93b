import Foundation

/// Which process sealed an outbox entry: its pid and its start time (field 22 of
/// `/proc/PID/stat`, in clock ticks since boot), so that a pid reused by another process is
/// not mistaken for the one that sealed it. Two `sealpost` processes on one home run on one
/// machine: the home's store is a local SQLite file.
enum OutboxOwner {
    static let current: String = token(of: getpid()) ?? "\(getpid()):?"

    /// Whether the process that wrote `owner` is still running (this one included).
    static func isRunning(_ owner: String) -> Bool {
        guard let pid = owner.split(separator: ":").first.flatMap({ pid_t($0) }), pid > 0 else { return false }
        if owner == current { return true }
        return token(of: pid) == owner
    }

    /// "pid:start time" of the running process `pid`; nil when there is none.
    private static func token(of pid: pid_t) -> String? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        // After "pid (comm) ": state is field 3, the start time field 22.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 19 else { return nil }
        return "\(pid):\(fields[19])"
    }
}
