import Application
import Domain
import Synchronization

/// A small upload (declared size within the inline limit): gathered in memory, then
/// stored through the enqueue batcher at `commit()`. Holds no connection meanwhile.
final class PostgresBufferedUpload: MessageUpload {
    private struct State {
        var buffer: [UInt8] = []
        var finished = false
    }

    private let header: MessageHeader
    private let batcher: PostgresEnqueueBatcher
    private let state = Mutex(State())

    init(header: MessageHeader, batcher: PostgresEnqueueBatcher) {
        self.header = header
        self.batcher = batcher
    }

    func write(_ chunk: [UInt8]) async throws {
        let declared = UInt64(header.contentSize)
        try state.withLock { (state) throws(StoreError) in
            guard !state.finished else { throw .notFound("upload is finished") }
            let written = UInt64(state.buffer.count + chunk.count)
            guard written <= declared else {
                state.finished = true
                state.buffer = []
                throw .sizeMismatch(declared: declared, written: written)
            }
            state.buffer += chunk
        }
    }

    func commit() async throws -> MessageID {
        let declared = UInt64(header.contentSize)
        let content = try state.withLock { (state) throws(StoreError) -> [UInt8] in
            guard !state.finished else { throw .notFound("upload is finished") }
            state.finished = true
            defer { state.buffer = [] }
            guard UInt64(state.buffer.count) == declared else {
                throw .sizeMismatch(declared: declared, written: UInt64(state.buffer.count))
            }
            return state.buffer
        }
        return try await batcher.enqueue(header, content: content)
    }

    func abort() async {
        state.withLock { state in
            state.finished = true
            state.buffer = []
        }
    }
}
