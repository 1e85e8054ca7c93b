import Domain

/// `send-file NAME PATH`: sends a file (message type 4), encrypted while it streams from
/// disk to the socket, so memory stays bounded whatever its size.
public struct SendFile: Sendable {
    let services: ClientServices

    /// Builds the use case.
    public init(_ services: ClientServices) { self.services = services }

    /// Sends the file at `path` to the client named `name`, exchanging a key first when
    /// none is shared. `progress` hears about the bytes read.
    ///
    /// - Throws: `ClientError.localFile` when the file cannot be read or is too large for
    ///   the protocol's 32-bit size field; `ClientError.localFile` also when the file
    ///   changes size while it is sent.
    public func run(name: String, path: String, progress: (any TransferProgress)? = nil) async throws
        -> (contact: Contact, message: MessageID, size: UInt64)
    {
        let me = try await services.requireIdentity()
        let reader = try services.files.openForReading(path)
        defer { reader.close() }
        let size = reader.size
        let cipherSize = EncryptingFileContent.ciphertextSize(of: size)
        guard cipherSize <= UInt64(UInt32.max) else {
            throw ClientError.localFile(path: path, reason: "\(size) bytes is more than the protocol can carry")
        }
        let contact = try await ResolveContact(services).run(name: name, me: me)
        let key = try await SendKey(services).ensureKey(for: contact.id, me: me)
        let cipher = try services.crypto { try $0.makeEncryptor(key: key) }
        progress?.start(label: "sending", total: size)
        let content = EncryptingFileContent(reader: reader, cipher: cipher, progress: progress)
        let message = try await services.server.send(
            .file, contentSize: UInt32(cipherSize), content: content, to: contact.id, from: me.id)
        return (contact, message, size)
    }
}
