/// Files on the client's disk: files to send and received files.
public protocol LocalFiles: Sendable {
    /// Opens `path` for reading.
    ///
    /// - Throws: `ClientError.localFile` when it is missing, not a regular file or unreadable.
    func openForReading(_ path: String) throws -> any FileReader

    /// Starts a received file under a temporary name in the downloads directory; it gets a
    /// name derived from `suggestedName` (made unique) only on `commit()`.
    ///
    /// - Throws: `ClientError.localFile` when the directory or the file cannot be created.
    func createDownload(suggestedName: String) throws -> any DownloadWriter
}

/// A file being read in pieces. Not `Sendable`: one task at a time.
public protocol FileReader: AnyObject {
    /// The file's size in bytes when it was opened.
    var size: UInt64 { get }
    /// Up to `maximum` bytes; empty at the end of the file.
    func read(upTo maximum: Int) throws -> [UInt8]
    /// Closes the file (also done when the reader is released).
    func close()
}

/// A received file being written. Not `Sendable`: one task at a time.
public protocol DownloadWriter: AnyObject {
    /// Appends bytes to the temporary file.
    func write(_ bytes: [UInt8]) throws
    /// Moves the complete file into place and returns its final path.
    func commit() throws -> String
    /// Removes the temporary file.
    func discard()
}
