import Application
import Domain
import Foundation
import Synchronization

/// Acknowledges deliveries already committed while the next ones are taken: a task of its own
/// takes every delivery queued since its last turn, acknowledges them in one ACK, marks the
/// shown ones shown in one transaction, and only then reports them, in the order they were
/// taken. Each delivery is committed before it is queued, so for each one the order stays
/// commit, ACK, mark shown, report: a crash between any two loses nothing (the server delivers
/// it again and it is found seen; `SecureClient.unshown` reports it at the next start) and
/// shows nothing twice.
///
/// `$SEALPOST_TEST_DIE_BEFORE_ACK` kills the process after the commit, before the ACK.
final class AcknowledgementPipeline: Sendable {
    private enum Entry: Sendable {
        case taken(SecureClient.TakenDelivery)
        /// Resumed once every delivery queued before it is reported (or the pipeline failed).
        case barrier(CheckedContinuation<Void, any Error>)
    }

    private struct State {
        var queue: [Entry] = []
        var failure: (any Error)?
    }

    private let state = Mutex(State())
    private let wake: AsyncStream<Void>.Continuation
    private let wakes: AsyncStream<Void>

    private init() {
        (wakes, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Runs `body` with a pipeline whose acknowledgements go over `connection` and whose
    /// receipts go to `report`; when `body` returns, waits until every queued delivery is
    /// reported. When `body` throws, what is still queued is left unacknowledged (it stays
    /// committed, and is reported at the next start).
    static func run<T: Sendable>(client: SecureClient, connection: any AccountServerConnection,
                                 report: @escaping @Sendable (SecureReceipt) -> Void,
                                 body: (AcknowledgementPipeline) async throws -> T) async throws -> T {
        let pipeline = AcknowledgementPipeline()
        let worker = Task { await pipeline.drain(client: client, connection: connection, report: report) }
        do {
            let result = try await body(pipeline)
            try await pipeline.flush()
            pipeline.wake.finish()
            await worker.value
            return result
        } catch {
            worker.cancel()
            pipeline.fail(error)
            await worker.value
            throw error
        }
    }

    /// Queues a committed delivery.
    ///
    /// - Throws: the error that stopped the pipeline (an ACK or a store write that failed).
    func enqueue(_ taken: SecureClient.TakenDelivery) throws {
        try state.withLock { state in
            if let failure = state.failure { throw failure }
            state.queue.append(.taken(taken))
        }
        wake.yield()
    }

    /// Returns once every delivery queued so far is acknowledged and reported.
    ///
    /// - Throws: the error that stopped the pipeline.
    func flush() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let failure: (any Error)? = state.withLock { state in
                if let failure = state.failure { return failure }
                state.queue.append(.barrier(continuation))
                return nil
            }
            if let failure { continuation.resume(throwing: failure) } else { wake.yield() }
        }
    }

    /// Stops the pipeline: later calls throw `error`, and waiting flushes are resumed with it.
    private func fail(_ error: any Error) {
        let waiting: [Entry] = state.withLock { state in
            if state.failure == nil { state.failure = error }
            defer { state.queue = [] }
            return state.queue
        }
        for case .barrier(let continuation) in waiting { continuation.resume(throwing: error) }
        wake.finish()
    }

    private func drain(client: SecureClient, connection: any AccountServerConnection,
                       report: @escaping @Sendable (SecureReceipt) -> Void) async {
        for await _ in wakes {
            while true {
                let batch: [Entry] = state.withLock { state in
                    defer { state.queue = [] }
                    return state.failure == nil ? state.queue : []
                }
                if batch.isEmpty { break }
                var deliveries: [SecureClient.TakenDelivery] = []
                for (index, entry) in batch.enumerated() {
                    switch entry {
                    case .taken(let taken):
                        deliveries.append(taken)
                    case .barrier(let continuation):
                        do {
                            try await settle(deliveries, client: client, connection: connection, report: report)
                        } catch {
                            // This barrier and those after it in the batch wait no more.
                            for case .barrier(let waiting) in batch[index...] { waiting.resume(throwing: error) }
                            return fail(error)
                        }
                        deliveries = []
                        continuation.resume()
                    }
                }
                do {
                    try await settle(deliveries, client: client, connection: connection, report: report)
                } catch {
                    return fail(error)
                }
            }
        }
    }

    /// Acknowledges `deliveries` in one ACK, marks the shown ones shown, finishes their
    /// attachments, and reports them in order.
    private func settle(_ deliveries: [SecureClient.TakenDelivery], client: SecureClient, connection: any AccountServerConnection,
                        report: @escaping @Sendable (SecureReceipt) -> Void) async throws {
        if deliveries.isEmpty { return }
        let acknowledged = deliveries.filter(\.acknowledge).map(\.receipt.messageID)
        if !acknowledged.isEmpty {
            if ProcessInfo.processInfo.environment["SEALPOST_TEST_DIE_BEFORE_ACK"] != nil {
                kill(getpid(), SIGKILL)
            }
            // Their files are kept under their other names (`sweepPartialDownloads` takes
            // those a crash before this leaves).
            for delivery in deliveries where delivery.acknowledge { if let partial = delivery.partial { unlink(partial) } }
            _ = try await connection.acknowledge(acknowledged)
        }
        let shown = deliveries.filter(\.acknowledge).compactMap(\.shownID)
        if !shown.isEmpty {
            try await client.store.write { try $0.markShown(messageIDs: shown) }
        }
        for delivery in deliveries {
            if let attachment = delivery.attachment {
                // The server may delete it now; failing that, its TTL does.
                try? await connection.finishAttachment(attachment)
            }
            report(await client.named(delivery.receipt, on: connection))
        }
    }
}
