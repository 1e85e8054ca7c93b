import Domain

/// `inbox`: pulls the waiting messages, reads them in order, and answers key requests.
public struct ReadInbox: Sendable {
    let services: ClientServices

    /// Builds the use case.
    public init(_ services: ClientServices) { self.services = services }

    /// Pulls (104) and reads every message:
    ///
    /// - key requests (1) are answered with the pair key (`SendKey`) unless `autoReply` is
    ///   false; a failed answer is noted in the request's entry;
    /// - keys (2) are stored under `PairKeyPolicy`;
    /// - texts (3) are decrypted;
    /// - files (4) are decrypted to a temporary file in the downloads directory, moved into
    ///   place when complete and decrypted without error.
    ///
    /// A message that cannot be read gets an error in its entry. When the pull itself breaks
    /// off, the messages read so far are returned with the failure.
    public func run(autoReply: Bool = true, progress: (any TransferProgress)? = nil) async throws -> InboxResult {
        let me = try await services.requireIdentity()
        let receiver = InboxReceiver(services: services, me: me, progress: progress)
        var failure: ClientError?
        do {
            try await services.server.pull(requester: me.id, into: receiver)
        } catch let error as ClientError {
            failure = error
        }
        var entries = receiver.entries
        if autoReply {
            for requester in receiver.keyRequesters {
                do {
                    _ = try await SendKey(services).send(to: requester, me: me)
                } catch {
                    for index in entries.indices where entries[index].senderID == requester && entries[index].kind == .keyRequest {
                        entries[index].error = "could not answer the key request: \(error)"
                    }
                }
            }
        }
        try await nameSenders(&entries, me: me)
        return InboxResult(entries: entries, failure: failure)
    }

    /// Fills in unknown sender names from one fresh list, when any is missing.
    private func nameSenders(_ entries: inout [InboxEntry], me: ClientIdentity) async throws {
        guard entries.contains(where: { $0.senderName == nil }) else { return }
        guard let clients = try? await services.server.listClients(requester: me.id) else { return }
        try await services.state.recordClients(clients)
        let names = Dictionary(clients.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
        for index in entries.indices where entries[index].senderName == nil {
            entries[index].senderName = names[entries[index].senderID]
        }
    }
}
