/// How much one claim may take, and the rule that decides, message by message, whether the
/// next one still fits.
///
/// A message costs its content size plus a fixed per-message overhead that the reply format
/// imposes (the wire codec supplies it; the stores and the use cases know no wire sizes).
/// The rule, the same for every store:
/// - the first message always fits, however large, so an inbox never jams behind a message
///   larger than the budget;
/// - after it, a message fits while the running total, itself included, stays within
///   `totalBytes`; the first one that would go over ends the claim (later, smaller messages
///   are not picked instead: a claim is always the oldest waiting messages, in id order).
///
/// A store copies the budget it is given and calls `admit(contentSize:)` for each candidate
/// in id order until it returns `false` or `isExhausted` says no further message can fit.
public struct ClaimBudget: Sendable, Hashable {
    /// The most a claim may cost, in bytes, unless its first message alone costs more.
    public let totalBytes: UInt64
    /// What each message costs on top of its content.
    public let perMessageOverhead: UInt64
    /// The cost of the messages admitted so far.
    public private(set) var usedBytes: UInt64 = 0
    /// How many messages were admitted so far.
    public private(set) var admitted = 0

    public init(totalBytes: UInt64, perMessageOverhead: UInt64) {
        self.totalBytes = totalBytes
        self.perMessageOverhead = perMessageOverhead
    }

    /// What a message with `contentSize` bytes of content costs (saturating at `UInt64.max`).
    public func cost(ofContentSize contentSize: UInt32) -> UInt64 {
        let (sum, overflow) = perMessageOverhead.addingReportingOverflow(UInt64(contentSize))
        return overflow ? .max : sum
    }

    /// Whether the next message, of `contentSize` bytes, fits; when it does it is counted in.
    /// Once this returns `false` the claim is complete: do not offer later messages.
    public mutating func admit(contentSize: UInt32) -> Bool {
        let cost = cost(ofContentSize: contentSize)
        guard admitted > 0 else {
            usedBytes = cost
            admitted = 1
            return true
        }
        let (total, overflow) = usedBytes.addingReportingOverflow(cost)
        guard !overflow, total <= totalBytes else { return false }
        usedBytes = total
        admitted += 1
        return true
    }

    /// Whether no further message can fit, not even one with an empty content: a store may
    /// stop reading candidates.
    public var isExhausted: Bool {
        guard admitted > 0 else { return false }
        let (total, overflow) = usedBytes.addingReportingOverflow(perMessageOverhead)
        return overflow || total > totalBytes
    }
}
