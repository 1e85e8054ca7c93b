import NIOCore

/// Protocol v2 on a `StreamConnection`: feeds the bytes to a `SeedV2StateMachine` and
/// carries out its actions, starting the one task that serves the connection's request.
final class SeedV2Handler: ConnectionHandler {
    private var machine: SeedV2StateMachine
    private let requests: SeedV2Requests

    init(requests: SeedV2Requests) {
        self.requests = requests
        let limits = requests.useCases.limits
        self.machine = SeedV2StateMachine(maxPayload: limits.maxPayload, inlineLimit: limits.inlineContentLimit)
    }

    func received(_ buffer: inout ByteBuffer, on connection: StreamConnection) {
        while !connection.closed, connection.lingerUntil == nil, let action = machine.received(&buffer) {
            run(action, on: connection)
        }
        if !machine.wantsInput {
            // One request per connection: what follows it is nobody's.
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        }
    }

    func inputEnded(_ buffer: inout ByteBuffer, on connection: StreamConnection) {
        while !connection.closed, let action = machine.inputEnded(&buffer) {
            run(action, on: connection)
        }
    }

    var wantsInput: Bool { machine.wantsInput }
    var inputComplete: Bool { machine.inputComplete }
    var activity: ConnectionActivity { machine.activity }

    private func run(_ action: SeedV2StateMachine.Action, on connection: StreamConnection) {
        let requests = requests
        switch action {
        case .serve(let request):
            connection.startTask { connection in await requests.serve(request, on: connection) }
        case .receiveUpload(let header, let message):
            connection.openInboundStream()
            connection.startTask { connection in await requests.serveUpload(header, message, from: connection) }
        case .refuse(let error):
            connection.startTask { connection in await requests.serveUndecodable(error, on: connection) }
        case .content(let piece, let isLast):
            connection.pushPiece(piece, isLast: isLast)
        case .contentFailed(let error):
            connection.failPieces(error)
        case .close:
            connection.hardClose()
        }
    }
}
