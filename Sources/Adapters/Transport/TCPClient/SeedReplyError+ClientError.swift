import Application
import Domain
import SeedWire

extension ClientError {
    /// The codec's reply error as the client reports it, naming the request.
    init(_ error: SeedReplyError, request: String) {
        switch error {
        case .failure: self = .server(request: request)
        case .malformed(let reason): self = .malformedReply(request: request, reason: reason)
        case .tooLarge(let size, let limit): self = .replyTooLarge(request: request, size: size, limit: limit)
        case .connection(let reason): self = .transport(request: request, reason: reason)
        }
    }
}

/// Hands a pull's entries to the client's `PulledMessageReceiver`, errors named after
/// `request`.
final class PulledMessageSink: SeedPullSink {
    private let receiver: any PulledMessageReceiver
    private let request: String

    init(_ receiver: any PulledMessageReceiver, request: String) {
        self.receiver = receiver
        self.request = request
    }

    func begin(_ header: PulledMessageHeader) async {
        await receiver.begin(header)
    }

    func content(_ chunk: [UInt8]) async {
        await receiver.content(chunk)
    }

    func end(error: SeedReplyError?) async {
        await receiver.end(error: error.map { ClientError($0, request: request) })
    }
}
