import Application
import Foundation

/// The client's home directory on disk.
enum ClientHome {
    /// Creates `home` (mode 0700) when missing.
    static func create(_ home: String) throws {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        if !manager.fileExists(atPath: home, isDirectory: &isDirectory) {
            do {
                try manager.createDirectory(atPath: home, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw ClientError.localState("cannot create the home directory \(home): \(error.localizedDescription)")
            }
        } else if !isDirectory.boolValue {
            throw ClientError.localState("the home \(home) is not a directory")
        }
    }
}
