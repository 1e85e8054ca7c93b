import Application
import Domain
import Foundation

/// The identity in `<home>/me.info`, in the original client's exact format, so each client
/// can use the other's identity. Written with file mode 0600 (it holds the private key).
public struct MeInfoIdentityStore: IdentityStore {
    /// The file's path.
    public let path: String

    /// Uses `<home>/me.info`.
    public init(home: String) {
        path = (home as NSString).appendingPathComponent("me.info")
    }

    public func load() async throws -> ClientIdentity? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ClientError.localState("cannot read \(path): \(error.localizedDescription)")
        }
        do {
            return try ClientIdentity(meInfo: Array(data))
        } catch {
            throw ClientError.localState("\(path): \(error)")
        }
    }

    public func save(_ identity: ClientIdentity) async throws {
        // Written to a temporary file (0600 from the start) and renamed, so a crash never
        // leaves half an identity.
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw ClientError.localState("cannot write \(temporary): \(String(cString: strerror(errno)))")
        }
        fchmod(fd, 0o600)
        let bytes = identity.meInfo
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == bytes.count, synced == 0, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw ClientError.localState("cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}
