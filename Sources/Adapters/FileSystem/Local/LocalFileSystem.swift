import Application
import Foundation

/// Files on the local disk: files to send, and received files under `downloads`.
public struct LocalFileSystem: LocalFiles {
    /// Where received files go (`<home>/downloads`).
    public let downloads: String

    /// Saves received files under `downloads`, created (mode 0700) when first needed.
    public init(downloads: String) {
        self.downloads = downloads
    }

    public func openForReading(_ path: String) throws -> any FileReader {
        try LocalFileReader(path: path)
    }

    public func createDownload(suggestedName: String) throws -> any DownloadWriter {
        do {
            try FileManager.default.createDirectory(
                atPath: downloads, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw ClientError.localFile(path: downloads, reason: error.localizedDescription)
        }
        return try LocalDownloadWriter(directory: downloads, name: suggestedName)
    }
}
