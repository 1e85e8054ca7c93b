import Domain

/// The server's use cases, built once over the chosen stores.
public struct ServerUseCases: Sendable {
    public let register: RegisterClient
    public let listClients: ListClients
    public let lookUpPublicKey: LookUpPublicKey
    public let send: SendMessage
    public let deliver: DeliverInbox
    public let limits: ServerLimits

    /// Wires every use case to `directory` and `store`.
    ///
    /// - Parameters:
    ///   - clock: the time of day that requests are noted at; tests inject their own.
    ///   - monotonic: a monotonic clock in seconds, for the renewals of long deliveries.
    public init(
        directory: any ClientDirectory,
        store: any MessageStore,
        limits: ServerLimits,
        clock: any WallClock,
        monotonic: @escaping @Sendable () -> Double = DeliverInbox.monotonicSeconds,
        newID: @escaping @Sendable () -> ClientID = RegisterClient.randomID
    ) {
        let cached = CachedClientDirectory(directory)
        let recognize = RecognizeClient(directory: cached, clock: clock)
        self.register = RegisterClient(directory: cached, newID: newID)
        self.listClients = ListClients(directory: cached, recognize: recognize)
        self.lookUpPublicKey = LookUpPublicKey(directory: cached, recognize: recognize)
        self.send = SendMessage(directory: cached, store: store, recognize: recognize, limits: limits)
        self.deliver = DeliverInbox(store: store, recognize: recognize, now: monotonic)
        self.limits = limits
    }
}
