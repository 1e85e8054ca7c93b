import Domain

/// Request 100: adds a client under a unique name and hands out a fresh random id.
public struct RegisterClient: Sendable {
    let directory: any ClientDirectory
    let newID: @Sendable () -> ClientID

    public init(directory: any ClientDirectory, newID: @escaping @Sendable () -> ClientID = RegisterClient.randomID) {
        self.directory = directory
        self.newID = newID
    }

    /// Registers `name` with `publicKey` and returns the new id.
    ///
    /// - Throws: `DomainError.nameTaken` when the name is in use.
    public func callAsFunction(name: ClientName, publicKey: PublicKey) async throws -> ClientID {
        // 128 random bits collide practically never; a few retries make it never.
        for _ in 0..<8 {
            let id = newID()
            if id.isZero { continue }
            do {
                try await directory.register(RegisteredClient(id: id, name: name, publicKey: publicKey))
                return id
            } catch StoreError.duplicateID {
                continue
            }
        }
        throw StoreError.unavailable("could not draw an unused client id")
    }

    /// Draws an id from the system's cryptographic random source.
    public static let randomID: @Sendable () -> ClientID = {
        var generator = SystemRandomNumberGenerator()
        return ClientID.random(using: &generator)
    }
}
