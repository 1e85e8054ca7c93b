import Domain

/// `whoami`: the name and id in me.info. Needs no server.
public struct WhoAmI: Sendable {
    let services: ClientServices

    /// Builds the use case.
    public init(_ services: ClientServices) { self.services = services }

    /// The identity of this home.
    ///
    /// - Throws: `ClientError.notRegistered` when there is none.
    public func run() async throws -> ClientIdentity {
        try await services.requireIdentity()
    }
}
