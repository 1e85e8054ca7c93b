import Domain

/// Request 101: every registered client except the one asking, in registration order.
public struct ListClients: Sendable {
    let directory: any ClientDirectory
    let recognize: RecognizeClient

    public init(directory: any ClientDirectory, recognize: RecognizeClient) {
        self.directory = directory
        self.recognize = recognize
    }

    public func callAsFunction(requester: ClientID) async throws -> [RegisteredClient] {
        try await recognize(requester)
        return try await directory.allClients().filter { $0.id != requester }
    }
}
