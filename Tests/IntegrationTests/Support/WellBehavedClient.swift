import Domain
import Foundation

/// A client that follows the protocol, used to show the server keeps serving while others
/// misbehave: each round registers a fresh client, sends it a text and pulls it back.
enum WellBehavedClient {
    /// The slowest single request of each round.
    struct Rounds: Sendable {
        var slowest: [Duration] = []
        var worst: Duration { slowest.max() ?? .zero }
    }

    /// Runs rounds against `port` until `deadline` (at least `minimum` of them).
    static func keepServing(port: Int, until deadline: ContinuousClock.Instant, minimum: Int = 3) async throws -> Rounds {
        var rounds = Rounds()
        let tag = "probe-\(UInt32.random(in: 0...UInt32.max))"
        while rounds.slowest.count < minimum || ContinuousClock.now < deadline {
            rounds.slowest.append(try await round(port: port, name: "\(tag)-\(rounds.slowest.count)"))
            // Pacing, not a wait: a round every 100 ms or so, as a client would.
            try await Task.sleep(for: .milliseconds(100))
        }
        return rounds
    }

    /// One register/send/pull round; throws unless every reply is the right one.
    static func round(port: Int, name: String) async throws -> Duration {
        var slowest = Duration.zero
        func timed(_ request: [UInt8]) async throws -> Reply {
            let started = ContinuousClock.now
            let reply = try Reply(try await RawClient.exchange(request, port: port))
            slowest = max(slowest, ContinuousClock.now - started)
            return reply
        }
        let registered = try await timed(Requests.register(name))
        guard registered.code == 1000, let id = registered.clientID else { throw ProbeError("register: \(registered.code)") }
        let text = Array("hello \(name)".utf8)
        let sent = try await timed(Requests.send(id, to: id, type: 3, content: text))
        guard sent.code == 1003 else { throw ProbeError("send: \(sent.code)") }
        let pulled = try await timed(Requests.pull(id))
        guard pulled.code == 1004, pulled.messages.map(\.content) == [text] else { throw ProbeError("pull: \(pulled.code)") }
        return slowest
    }

    struct ProbeError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}

/// The resident set size of process `pid` in KiB (`/proc/<pid>/status`, VmRSS), or nil.
func residentKiB(pid: Int32) -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return nil }
    return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
}

/// Raises this process's limit on open files towards `wanted` (the hard limit as well when
/// privileged, else up to it) and returns the limit now in force. Server processes started afterwards inherit it.
@discardableResult
func raiseOpenFileLimit(to wanted: Int) -> Int {
    var limit = rlimit()
    guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
    if limit.rlim_cur < rlim_t(wanted) {
        // The hard limit too, which only a privileged process (CI runs as root) may raise.
        var raised = limit
        raised.rlim_cur = rlim_t(wanted)
        raised.rlim_max = max(limit.rlim_max, rlim_t(wanted))
        if setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &raised) != 0 {
            limit.rlim_cur = min(rlim_t(wanted), limit.rlim_max)
            _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        }
        _ = getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    }
    return Int(clamping: limit.rlim_cur)
}
