import NIOCore

/// What a connection is doing, as far as its timeouts and a shutdown are concerned.
enum ConnectionActivity: Sendable, Hashable {
    /// No request has started: the request deadline applies, the idle timeout too, and a
    /// shutdown closes the connection at once (nothing in flight is lost).
    case awaitingRequest
    /// We are working on a request: silence from the peer is not idleness.
    case busy
    /// Bytes are flowing between us and the peer (a content coming in, a reply going out):
    /// the idle timeout applies, unless reading is paused by our own back-pressure.
    case transferring
}

/// The wire protocol spoken on a `StreamConnection`: it decides what the bytes mean and
/// what happens next, while the connection moves the bytes (socket, queues, watermarks,
/// timeouts, back-pressure, delivery confirmation).
///
/// Every call is made on the connection's loop. A handler keeps its decisions in a pure
/// state machine and only carries out the actions it returns (for the protocol v2 handler:
/// `SeedV2StateMachine`).
protocol ConnectionHandler: AnyObject {
    /// Bytes arrived. The handler takes what it can from `buffer`; what is left is given
    /// again, with more, on the next call.
    func received(_ buffer: inout ByteBuffer, on connection: StreamConnection)

    /// The peer ended its sending side; `buffer` holds what was left unread.
    func inputEnded(_ buffer: inout ByteBuffer, on connection: StreamConnection)

    /// Whether the protocol wants to read now (a request, or the rest of its content).
    var wantsInput: Bool { get }

    /// Whether every byte the peer meant to send was read. Closing with unread request
    /// bytes would reset the connection and could destroy the reply in the peer's
    /// receive buffer, so the connection drains for a moment first.
    var inputComplete: Bool { get }

    /// What the connection is doing, for its timeouts and for shutdown.
    var activity: ConnectionActivity { get }
}
