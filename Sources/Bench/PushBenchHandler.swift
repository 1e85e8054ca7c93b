import NIOCore

/// The last handler of one benchmark session's pipeline, for either protocol: it sets the
/// session up (then fulfils its readiness promise with the address others send to), sends
/// within the window once started, and acknowledges what is pushed to it. Its methods run
/// on the channel's event loop.
protocol PushBenchHandler: ChannelInboundHandler, SendableMetatype {
    /// What a sender names a recipient by: an account id, a topic.
    associatedtype Address: Sendable

    /// Learns every session's address (indexed like the sessions). The run hands them to
    /// every session, and waits, before it starts any: once one session sends, the others
    /// may be pushed to, and a v3 DELIVERY's sender is checked against these.
    func learn(targets: [Address])

    /// Starts sending to random others among the targets until `endNanos` (monotonic).
    func start(until endNanos: UInt64)

    /// What the session recorded so far.
    var outcome: PushBenchSession.Outcome { get }

    /// Ends the session politely (DISCONNECT, close_notify) and closes the channel.
    func finish()
}
