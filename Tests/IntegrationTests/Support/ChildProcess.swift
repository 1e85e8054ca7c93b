import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn(3)`, for the tests that run binaries.
///
/// Not swift-corelibs-foundation's `Process`: on Linux, its `run()` emulates
/// `POSIX_SPAWN_CLOEXEC_DEFAULT` by listing `/proc/self/fd` and adding one close action per
/// descriptor. With a thousand or more sockets opening and closing in the test process beside
/// it, that crashed the whole test run (SIGSEGV in a `memmove` of directory entries), once even
/// with every spawn serialized. Here the child closes everything above 2 with one
/// `posix_spawn_file_actions_addclosefrom_np` action: nothing is listed, and no descriptor the
/// test process opens at the same moment can leak into the child.
///
/// The child starts as a user's shell would start it: default signal dispositions (SIGPIPE
/// included, whatever the test process ignores), an empty signal mask, and a process group
/// of its own. The configuration is set before `run()`; the state after it is guarded.
final class ChildProcess: @unchecked Sendable {
    var executableURL: URL?
    var arguments: [String]?
    /// nil: the test process's environment.
    var environment: [String: String]?
    var currentDirectoryURL: URL?
    /// Each is a `Pipe`, a `FileHandle` (`FileHandle.nullDevice` opens /dev/null in the
    /// child), or nil to inherit the test process's own descriptor.
    var standardInput: Any?
    var standardOutput: Any?
    var standardError: Any?

    private struct State {
        var pid: pid_t = 0
        /// The raw wait status, once the child has been reaped.
        var status: Int32?
    }
    private let state = Mutex(State())

    init() {}

    var processIdentifier: Int32 { state.withLock { $0.pid } }

    func run() throws {
        guard let executable = executableURL?.path else { throw TestSetupError("ChildProcess: no executable") }
        var actions = posix_spawn_file_actions_t()
        try check(posix_spawn_file_actions_init(&actions), "file actions")
        defer { posix_spawn_file_actions_destroy(&actions) }

        let redirections: [(target: Int32, source: Any?, childReads: Bool)] = [
            (0, standardInput, true), (1, standardOutput, false), (2, standardError, false),
        ]
        for (target, source, childReads) in redirections {
            switch source {
            case let pipe as Pipe:
                let end = childReads ? pipe.fileHandleForReading : pipe.fileHandleForWriting
                try check(posix_spawn_file_actions_adddup2(&actions, end.fileDescriptor, target), "dup2")
            case let handle as FileHandle where handle === FileHandle.nullDevice:
                try check(posix_spawn_file_actions_addopen(&actions, target, "/dev/null", childReads ? O_RDONLY : O_WRONLY, 0), "open /dev/null")
            case let handle as FileHandle:
                try check(posix_spawn_file_actions_adddup2(&actions, handle.fileDescriptor, target), "dup2")
            default:
                break
            }
        }
        try check(GNUSpawn.addCloseFrom(&actions, 3), "closefrom")
        if let directory = currentDirectoryURL?.path {
            try check(GNUSpawn.addChdir(&actions, directory), "chdir")
        }

        var attributes = posix_spawnattr_t()
        try check(posix_spawnattr_init(&attributes), "attributes")
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t(), empty = sigset_t()
        sigfillset(&defaults)
        sigdelset(&defaults, SIGKILL)
        sigdelset(&defaults, SIGSTOP)
        sigemptyset(&empty)
        try check(posix_spawnattr_setsigdefault(&attributes, &defaults), "signal defaults")
        try check(posix_spawnattr_setsigmask(&attributes, &empty), "signal mask")
        try check(posix_spawnattr_setpgroup(&attributes, 0), "process group")
        try check(posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP)), "flags")

        let argv = ([executable] + (arguments ?? [])).map { strdup($0) } + [nil]
        let environment = self.environment ?? ProcessInfo.processInfo.environment
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        try check(posix_spawn(&pid, executable, &actions, &attributes, argv, envp), "spawn \(executable)")
        state.withLock { $0.pid = pid }

        // The child's ends belong to the child now: without closing them here, a reader of
        // its output would never see the end of it.
        for (_, source, childReads) in redirections {
            guard let pipe = source as? Pipe else { continue }
            try? (childReads ? pipe.fileHandleForReading : pipe.fileHandleForWriting).close()
        }
    }

    /// Blocks until the child has ended (callable from several threads).
    func waitUntilExit() {
        let pid = processIdentifier
        precondition(pid > 0, "ChildProcess: not started")
        while state.withLock({ $0.status }) == nil {
            var status: Int32 = 0
            let result = waitpid(pid, &status, 0)
            if result == pid {
                state.withLock { $0.status = status }
            } else if result == -1, errno == ECHILD {
                // Another thread reaped it and is about to record the status.
                usleep(1_000)
            } else if result == -1, errno != EINTR {
                preconditionFailure("waitpid: \(String(cString: strerror(errno)))")
            }
        }
    }

    var isRunning: Bool {
        let pid = processIdentifier
        guard pid > 0 else { return false }
        if state.withLock({ $0.status }) != nil { return false }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid {
            state.withLock { $0.status = status }
            return false
        }
        return state.withLock { $0.status } == nil
    }

    /// The exit code, or the number of the signal that ended it (as `Process` reports it).
    var terminationStatus: Int32 {
        guard let status = state.withLock({ $0.status }) else { preconditionFailure("ChildProcess: still running") }
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : signal
    }

    private func check(_ result: Int32, _ what: String) throws {
        guard result == 0 else { throw TestSetupError("posix_spawn (\(what)): \(String(cString: strerror(result)))") }
    }
}

/// glibc's two GNU file actions (2.34 and 2.29). Swift's Glibc module is imported without
/// `_GNU_SOURCE`, which hides their declarations, so they are looked up by name.
private enum GNUSpawn {
    typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    typealias Chdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32

    static let addCloseFrom: CloseFrom = symbol("posix_spawn_file_actions_addclosefrom_np")
    static let addChdir: Chdir = symbol("posix_spawn_file_actions_addchdir_np")

    private static func symbol<F>(_ name: String) -> F {
        guard let address = dlsym(nil, name) else { fatalError("glibc lacks \(name) (needs 2.34 or later)") }
        return unsafeBitCast(address, to: F.self)
    }
}
