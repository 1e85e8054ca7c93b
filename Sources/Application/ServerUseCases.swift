import Domain

/// The server's use cases, built once over the chosen stores.
public struct ServerUseCases: Sendable {
    public let register: RegisterClient
    public let listClients: ListClients
    public let lookUpPublicKey: LookUpPublicKey
    public let send: SendMessage
    public let pull: PullMessages
    public let limits: ServerLimits

    /// Wires every use case to `directory` and `store`.
    ///
    /// - Parameter now: the clock, in seconds since 1970; tests inject their own.
    public init(
        directory: any ClientDirectory,
        store: any MessageStore,
        limits: ServerLimits,
        now: @escaping @Sendable () -> Double,
        newID: @escaping @Sendable () -> ClientID = RegisterClient.randomID
    ) {
        let cached = CachedClientDirectory(directory)
        let recognize = RecognizeClient(directory: cached, now: now)
        self.register = RegisterClient(directory: cached, newID: newID)
        self.listClients = ListClients(directory: cached, recognize: recognize)
        self.lookUpPublicKey = LookUpPublicKey(directory: cached, recognize: recognize)
        self.send = SendMessage(directory: cached, store: store, recognize: recognize, limits: limits)
        self.pull = PullMessages(store: store, recognize: recognize)
        self.limits = limits
    }
}
