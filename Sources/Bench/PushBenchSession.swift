import NIOCore

/// The workload of one session of the push benchmark, the same for every protocol: it
/// picks a random other session for each message, keeps at most `window` sends unanswered,
/// stamps each payload, and records what was sent, answered and delivered. Its handler
/// owns it on the channel's event loop.
///
/// A payload is `u64 send time (monotonic ns) ‖ u32 sender ‖ u32 sequence ‖ filler`, the
/// filler's byte i being `sequence + i` (truncated), so a recipient can check it whole.
struct PushBenchSession {
    static let headerSize = 16

    /// What became of one send.
    enum SendState: UInt8, Sendable {
        case pending, accepted, refused
    }

    /// Everything the session recorded, handed to the run at the end.
    struct Outcome: Sendable {
        var index: Int
        /// Per sequence number: the recipient, and what the server answered.
        var recipients: [Int32]
        var states: [SendState]
        /// Deliveries received: `sender << 32 | sequence`.
        var received: [UInt64]
        var acceptMicros: [UInt32]
        var pushMicros: [UInt32]
        var acceptedInWindow: Int
        var deliveredInWindow: Int
        var corrupted: Int
        /// The first few corrupted deliveries, described (what was expected, what was seen).
        var corruptions: [String] = []
        var errors: Int
        var firstError: String?
    }

    let index: Int
    let sessions: Int
    let window: Int
    let payloadSize: Int
    let counters: PushBenchCounters
    private var random: BenchRandom
    private var endNanos: UInt64 = 0
    private(set) var running = false
    private(set) var inFlight = 0
    private var sentAt: [UInt64] = []
    private var outcome: Outcome

    init(index: Int, sessions: Int, window: Int, payloadSize: Int, seed: UInt64, counters: PushBenchCounters) {
        precondition(sessions >= 2 && payloadSize >= Self.headerSize)
        self.index = index
        self.sessions = sessions
        self.window = window
        self.payloadSize = payloadSize
        self.counters = counters
        self.random = BenchRandom(state: 0x9E37_79B9_7F4A_7C15 ^ ((UInt64(index) + 1) &* 0x1234567) ^ seed)
        self.outcome = Outcome(
            index: index, recipients: [], states: [], received: [], acceptMicros: [], pushMicros: [],
            acceptedInWindow: 0, deliveredInWindow: 0, corrupted: 0, errors: 0)
        outcome.received.reserveCapacity(1 << 14)
        outcome.pushMicros.reserveCapacity(1 << 14)
    }

    /// Starts sending, until `endNanos` (monotonic).
    mutating func start(until endNanos: UInt64) {
        self.endNanos = endNanos
        running = true
    }

    /// Stops sending (the connection is closing).
    mutating func stop() {
        running = false
    }

    /// The next message to send now, if the window has room and time is not up: its
    /// sequence number and recipient. The caller writes its payload with `writePayload`.
    mutating func nextSend(now: UInt64) -> (sequence: UInt32, recipient: Int)? {
        guard running else { return nil }
        guard now < endNanos else {
            running = false
            return nil
        }
        guard inFlight < window else { return nil }
        var recipient = Int(random.next() % UInt64(sessions - 1))
        if recipient >= index { recipient += 1 }
        let sequence = UInt32(outcome.recipients.count)
        outcome.recipients.append(Int32(recipient))
        outcome.states.append(.pending)
        sentAt.append(now)
        inFlight += 1
        counters.sent.add(1, ordering: .relaxed)
        return (sequence, recipient)
    }

    /// Appends the payload of message `sequence`, stamped with `now`.
    func writePayload(sequence: UInt32, now: UInt64, into buffer: inout ByteBuffer) {
        buffer.writeInteger(now)
        buffer.writeInteger(UInt32(index))
        buffer.writeInteger(sequence)
        let filler = payloadSize - Self.headerSize
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: filler) { raw in
            for offset in 0..<filler {
                raw[offset] = UInt8(truncatingIfNeeded: sequence &+ UInt32(offset))
            }
            return filler
        }
    }

    /// The server answered send `sequence`: accepted, or refused with `error`.
    mutating func answered(sequence: UInt32, accepted: Bool, now: UInt64, error: @autoclosure () -> String = "") {
        let position = Int(sequence)
        guard position < outcome.states.count, outcome.states[position] == .pending else {
            record(error: "an answer to send \(sequence), which is not waiting for one")
            return
        }
        inFlight -= 1
        counters.answered.add(1, ordering: .relaxed)
        if accepted {
            outcome.states[position] = .accepted
            outcome.acceptMicros.append(UInt32(clamping: (now &- sentAt[position]) / 1000))
            if now < endNanos { outcome.acceptedInWindow += 1 }
            counters.accepted.add(1, ordering: .relaxed)
        } else {
            outcome.states[position] = .refused
            record(error: error())
        }
    }

    /// A message pushed to this session. It counts as corrupted when the payload is not one
    /// the workload wrote, or when `isSender` refuses the sender it names (a v3 DELIVERY says
    /// who sent it; an MQTT PUBLISH does not). `detail` describes the delivery (its sender
    /// account, its id) for the first few corrupted ones.
    mutating func delivered(_ payload: ByteBuffer, now: UInt64, isSender: (Int) -> Bool = { _ in true },
                            detail: @autoclosure () -> String = "") {
        counters.delivered.add(1, ordering: .relaxed)
        let sent = payload.getInteger(at: payload.readerIndex, as: UInt64.self)
        let sender = payload.getInteger(at: payload.readerIndex + 8, as: UInt32.self)
        let sequence = payload.getInteger(at: payload.readerIndex + 12, as: UInt32.self)
        let problem: String?
        if payload.readableBytes != payloadSize {
            problem = "size \(payload.readableBytes), expected \(payloadSize)"
        } else if let sent, let sender, let sequence {
            if Int(sender) >= sessions {
                problem = "sender index \(sender) of \(sessions) sessions"
            } else if !isSender(Int(sender)) {
                problem = "the DELIVERY's sender is not session \(sender)"
            } else if !Self.fillerIntact(payload, sequence: sequence) {
                problem = "a damaged filler"
            } else {
                outcome.received.append(UInt64(sender) << 32 | UInt64(sequence))
                outcome.pushMicros.append(UInt32(clamping: (now &- sent) / 1000))
                if now < endNanos { outcome.deliveredInWindow += 1 }
                return
            }
        } else {
            problem = "no header"
        }
        outcome.corrupted += 1
        if outcome.corruptions.count < 3, let problem {
            let header = "sender index \(sender.map(String.init) ?? "?") sequence \(sequence.map(String.init) ?? "?") "
                + "sent \(sent.map { "\(Int64(bitPattern: now &- $0) / 1000) µs ago" } ?? "?")"
            outcome.corruptions.append("\(problem): \(header); started \(running || endNanos != 0)\(detail())")
        }
    }

    static func fillerIntact(_ payload: ByteBuffer, sequence: UInt32) -> Bool {
        payload.withUnsafeReadableBytes { raw in
            for offset in headerSize..<raw.count where raw[offset] != UInt8(truncatingIfNeeded: sequence &+ UInt32(offset - headerSize)) {
                return false
            }
            return true
        }
    }

    mutating func record(error: String) {
        outcome.errors += 1
        if outcome.firstError == nil { outcome.firstError = error }
    }

    var result: Outcome { outcome }
}
