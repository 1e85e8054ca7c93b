import CThreadCredentials
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Gives up root for good once the ports are bound (`serve --user NAME`): the supplementary
/// groups become the user's (initgroups), then the group, then the user; then it checks that
/// root cannot be taken back. glibc applies each change to every live thread, but not to the
/// main thread that dispatch_main() parks inside pthread_exit; `become` aligns that one too
/// (`sealpost_align_thread_credentials`), so that no thread of the process keeps root.
enum PrivilegeDrop {
    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// The user's ids, looked up in the system's user database.
    struct Target: Sendable {
        let name: String
        let uid: uid_t
        let gid: gid_t
    }

    static var isRoot: Bool { geteuid() == 0 }

    static func lookUp(_ name: String) throws -> Target {
        guard let entry = getpwnam(name) else { throw Failure("--user: no user named \"\(name)\"") }
        return Target(name: name, uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid)
    }

    /// Hands `paths` that exist (files and directories, with what is inside them) to
    /// `target`, so that it can still write them once it is no longer root.
    static func handOver(_ paths: [String], to target: Target) throws {
        let files = FileManager.default
        for path in paths where files.fileExists(atPath: path) {
            var inside: [String] = [path]
            if let enumerator = files.enumerator(atPath: path) {
                while let relative = enumerator.nextObject() as? String {
                    inside.append((path as NSString).appendingPathComponent(relative))
                }
            }
            for item in inside where lchown(item, target.uid, target.gid) != 0 {
                throw Failure("--user: cannot give \(item) to \(target.name): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Becomes `target`, irrevocably.
    static func become(_ target: Target) throws {
        guard initgroups(target.name, target.gid) == 0 else { throw failure("initgroups") }
        guard setgid(target.gid) == 0 else { throw failure("setgid") }
        guard setuid(target.uid) == 0 else { throw failure("setuid") }
        guard sealpost_align_thread_credentials() == 0 else { throw failure("aligning every thread's credentials") }
        // Root must be gone for good: neither the ids nor a way back.
        guard getuid() == target.uid, geteuid() == target.uid, getgid() == target.gid, getegid() == target.gid else {
            throw Failure("--user: the process is not \(target.name) after setuid")
        }
        if target.uid != 0 {
            guard setuid(0) != 0, seteuid(0) != 0 else { throw Failure("--user: root could be taken back after dropping it") }
        }
        if target.gid != 0 {
            guard setgid(0) != 0 else { throw Failure("--user: group root could be taken back after dropping it") }
        }
    }

    private static func failure(_ call: String) -> Failure {
        Failure("--user: \(call) failed: \(String(cString: strerror(errno)))")
    }
}
