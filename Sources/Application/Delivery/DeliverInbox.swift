import Domain

/// Hands a client its waiting messages, oldest first, through a `MessageSink`.
///
/// Fixes two defects of the original (docs/protocol-v2.md §7): messages are claimed, so two
/// deliveries never hand out the same one, and they are deleted only once the sink says the
/// recipient has all of them (`MessageSink.finish`); when anything fails first, they go back
/// to the inbox unchanged. A long delivery (a large file to a slow reader) renews its claim
/// every `renewalInterval`, so that a store's lease never runs out under it.
public struct DeliverInbox: Sendable {
    /// What one delivery handed over.
    public struct Outcome: Sendable, Hashable {
        /// The messages delivered, and so deleted.
        public let messages: Int
        /// Content bytes delivered.
        public let contentBytes: UInt64
    }

    /// A delivery that failed after the messages were claimed: they are back in the inbox,
    /// and part of a reply may be out already.
    public struct Interrupted: Error, Sendable {
        public let underlying: any Error
        /// The messages that were claimed and released again.
        public let messages: Int
    }

    /// Seconds on the process's monotonic clock (the default clock).
    public static let monotonicSeconds: @Sendable () -> Double = {
        let elapsed = ContinuousClock.now - processStart
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
    private static let processStart = ContinuousClock.now

    let store: any MessageStore
    let recognize: RecognizeClient
    let renewalInterval: Double
    let now: @Sendable () -> Double

    /// - Parameters:
    ///   - renewalInterval: seconds between claim renewals while a delivery is written.
    ///   - now: a monotonic clock in seconds; tests inject their own.
    public init(store: any MessageStore, recognize: RecognizeClient, renewalInterval: Double = 60, now: @escaping @Sendable () -> Double) {
        self.store = store
        self.recognize = recognize
        self.renewalInterval = renewalInterval
        self.now = now
    }

    /// Claims what fits `budget` in `requester`'s inbox, writes it to `sink`, and deletes
    /// it once `sink.finish()` returned.
    ///
    /// - Throws: what `recognize` throws before anything is claimed (nothing was written
    ///   then); `Interrupted` when the delivery failed after the claim (the messages are
    ///   released); the store's error when the acknowledgement itself fails (the recipient
    ///   has the messages, which may then be delivered again).
    @discardableResult
    public func callAsFunction(for requester: ClientID, budget: ClaimBudget, into sink: inout some MessageSink) async throws -> Outcome {
        try await recognize(requester)
        let claim = try await store.claim(for: requester, budget: budget)
        var renewAt = now() + renewalInterval
        func keepClaimed() async throws {
            guard !claim.messages.isEmpty, now() >= renewAt else { return }
            try await store.renew(claim)
            renewAt = now() + renewalInterval
        }
        var contentBytes: UInt64 = 0
        do {
            try await sink.begin(claim.messages)
            for message in claim.messages {
                try await sink.beginMessage(message)
                contentBytes += UInt64(message.contentSize)
                if message.inlineContent == nil {
                    try await stream(message, of: claim, to: &sink, keepClaimed: keepClaimed)
                }
                try await keepClaimed()
            }
            try await sink.finish()
            try await keepClaimed()
        } catch {
            if !claim.messages.isEmpty { try? await store.release(claim) }
            throw Interrupted(underlying: error, messages: claim.messages.count)
        }
        if !claim.messages.isEmpty { try await store.acknowledge(claim) }
        return Outcome(messages: claim.messages.count, contentBytes: contentBytes)
    }

    /// Copies a streamed content from the store to the sink, checking its declared size.
    private func stream(_ message: Envelope, of claim: MessageClaim, to sink: inout some MessageSink, keepClaimed: () async throws -> Void) async throws {
        let reader = try await store.openContent(of: message, in: claim)
        do {
            var sent: UInt64 = 0
            let declared = UInt64(message.contentSize)
            while let piece = try await reader.next() {
                sent += UInt64(piece.count)
                guard sent <= declared else { throw StoreError.sizeMismatch(declared: declared, written: sent) }
                try await sink.write(piece)
                try await keepClaimed()
            }
            guard sent == declared else { throw StoreError.sizeMismatch(declared: declared, written: sent) }
        } catch {
            await reader.close()
            throw error
        }
        await reader.close()
    }
}
