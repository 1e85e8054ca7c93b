import Synchronization

/// Running totals of the push workload, shared by every session's handler (on their event
/// loops) and the thread that waits for the run to drain.
final class PushBenchCounters: Sendable {
    /// Messages written (SEND or PUBLISH).
    let sent = Atomic<Int>(0)
    /// Sends answered, either way (RESULT or ERROR, PUBACK).
    let answered = Atomic<Int>(0)
    /// Sends the server accepted.
    let accepted = Atomic<Int>(0)
    /// Messages pushed to a recipient, duplicates included.
    let delivered = Atomic<Int>(0)
    /// Acknowledgement requests (v3 ACK) not answered yet.
    let acksOutstanding = Atomic<Int>(0)
    /// v3 ACK requests sent, and the delivery ids they carried.
    let ackRequests = Atomic<Int>(0)
    let ackedIDs = Atomic<Int>(0)
    /// Sessions that failed or closed before the end.
    let failedSessions = Atomic<Int>(0)

    /// True when every send is answered, every accepted message has arrived, and every
    /// acknowledgement is answered.
    var drained: Bool {
        answered.load(ordering: .relaxed) == sent.load(ordering: .relaxed)
            && delivered.load(ordering: .relaxed) >= accepted.load(ordering: .relaxed)
            && acksOutstanding.load(ordering: .relaxed) == 0
    }
}
