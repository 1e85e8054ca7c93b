import Adapters
import Application
import Domain
import Foundation
import SealpostWire
import Synchronization
import Testing

/// One account flooding over real TLS (docs/protocol-v3.md §7.1, §7.4): it is rate-limited,
/// its reads are paused until its retry-after, and the others, a sender to the same inbox and
/// a sender to other inboxes, are served at the latency they have while it is quiet.
///
/// Quiet and flooded windows alternate within each bystander's run, so that both meet this
/// machine's other load (other builds) alike. `scripts/test` runs this suite alone: beside the
/// other suites their load, not the flood, decided the figures.
@Suite("secure flood", .serialized)
struct SecureFloodTests {
    /// The pair's burst in this test: large enough that a bystander's thousands of samples
    /// stay within it (each pair sends `perPair` at most), so it is never limited itself.
    static let burst = 1000
    static let perPair = 900
    /// SENDs the flooder pipelines at a time: four times what the server runs at once for a
    /// session on probation (§7.4).
    static let depth = 64

    /// The defaults, except: a pair's bucket holds `burst` and refills four times a second,
    /// so that a flood meets several retry-afters a second; the inbox holds all the test
    /// sends; one address may register the test's accounts.
    static var limits: AccountLimits {
        var limits = AccountLimits()
        limits.rates.sendsPerPair = .burst(Double(burst), thenOneEvery: 0.25)
        limits.rates.registrations = .burst(1000, thenOneEvery: 1)
        limits.inbox = InboxCap(maxMessages: 100_000, maxBytes: 1 << 30, senderSharePercent: 25)
        return limits
    }

    /// Round trips of well-behaved SENDs made one at a time, sorted by when they were made.
    struct Samples {
        var quiet: [Duration] = []
        var flooded: [Duration] = []
        /// The flood's rounds that ended within flooded windows.
        var rounds = 0
        /// Every SEND made, those left out of the samples too.
        var sent = 0
    }

    /// One bystander's run: `senders` each sign in on a session of their own first; then
    /// `cycles` times a quiet window (from when the flooder is parked) and a flooded window,
    /// each 300 ms at least, the flooded one until a round of the flood has ended in it too. Samples taken
    /// while the gate changed are left out.
    static func measure(_ senders: ArraySlice<(V3TestAccount, AccountID)>, to recipients: ArraySlice<AccountID>, on server: SecureTestServer,
                        gate: FloodGate, cycles: Int) async throws -> Samples {
        try await withSessions(senders, on: server) { (probes: [V3Probe]) async throws in
            let plan = probes.indices.flatMap { probe in recipients.flatMap { recipient in repeatElement((probe, recipient), count: perPair) } }
            var next = 0
            var samples = Samples()
            for _ in 0..<cycles {
                for flooding in [false, true] {
                    if flooding { gate.open() } else { gate.close() }
                    let (wanted, firstRound): (FloodGate.Phase, Int) = (flooding ? .flooding : .quiet, gate.rounds)
                    var began: ContinuousClock.Instant?
                    while true {
                        if began == nil, gate.phase == wanted { began = ContinuousClock.now }
                        if let began, ContinuousClock.now - began >= .milliseconds(300), !flooding || gate.rounds > firstRound { break }
                        guard next < plan.count else { throw ProbeError("the bystander's pairs ran out") }
                        let (probe, recipient) = plan[next]
                        next += 1
                        samples.sent += 1
                        let phase = gate.phase
                        let start = ContinuousClock.now
                        let answer = try await probes[probe].call(.send(recipient: recipient, envelope: SecureLimitsTests.envelope(1)))
                        let elapsed = ContinuousClock.now - start
                        guard case .success = answer else { throw ProbeError("a well-behaved SEND was refused: \(answer)") }
                        guard let phase, gate.phase == phase else { continue }
                        if phase == .flooding { samples.flooded.append(elapsed) } else { samples.quiet.append(elapsed) }
                    }
                    if flooding { samples.rounds += gate.rounds - firstRound }
                }
            }
            return samples
        }
    }

    /// Runs `body` with a session signed in for each of `accounts`, all open at once.
    static func withSessions<T: Sendable>(_ accounts: ArraySlice<(V3TestAccount, AccountID)>, on server: SecureTestServer,
                                          _ body: ([V3Probe]) async throws -> T) async throws -> T {
        guard let (account, id) = accounts.first else { return try await body([]) }
        return try await SecureLimitsTests.signedIn(account, id, on: server) { (probe: V3Probe) async throws in
            try await withSessions(accounts.dropFirst(), on: server) { try await body([probe] + $0) }
        }
    }

    static func register(_ prefix: String, _ count: Int, on server: SecureTestServer) async throws -> [(V3TestAccount, AccountID)] {
        var accounts: [(V3TestAccount, AccountID)] = []
        for index in 0..<count {
            let account = try V3TestAccount("\(prefix)\(index)")
            accounts.append((account, try await SecureLimitsTests.register(account, on: server, prekeys: 1)))
        }
        return accounts
    }

    @Test("a flooding sender is rate-limited and paused; another sender to the same inbox, and a sender to others, keep their quiet latency")
    func flood() async throws {
        try await SecureAccountsTests.withServer(.memory, limits: Self.limits) { server, stores in
            let recipientID = try await SecureLimitsTests.register(try V3TestAccount("recipient"), on: server)
            let flooder = try V3TestAccount("flooder")
            let flooderID = try await SecureLimitsTests.register(flooder, on: server)
            let other = try V3TestAccount("other")
            let otherID = try await SecureLimitsTests.register(other, on: server)
            // Friends send to the flooded inbox; the other sends to inboxes of its own.
            let friends = try await Self.register("friend", 40, on: server)[...]
            let otherRecipients = try await Self.register("other-recipient", 40, on: server).map(\.1)[...]

            // The flooder pipelines `depth` SENDs at a time while the gate is open.
            let gate = FloodGate()
            let start = ContinuousClock.now
            async let flood: (stored: Int, refused: Int, retries: [UInt32]) = SecureLimitsTests.signedIn(flooder, flooderID, on: server) { (probe: V3Probe) async throws in
                var (stored, refused, retries) = (0, 0, [UInt32]())
                while await gate.pass() {
                    let answers = try await probe.pipeline((0..<Self.depth).map { _ in .send(recipient: recipientID, envelope: SecureLimitsTests.envelope(9)) })
                    for answer in answers {
                        switch answer {
                        case .success: stored += 1
                        case .failure(let error) where error.knownCode == .rateLimited:
                            refused += 1
                            retries.append(error.retryAfterMilliseconds)
                        case .failure(let error): throw ProbeError("the flood got \(error)")
                        }
                    }
                    gate.finishedRound()
                }
                return (stored, refused, retries)
            }
            // Let the flood spend its burst and meet its first refusals.
            gate.open()
            let burstSpent = try await eventually(timeout: .seconds(30)) {
                try await stores.envelopes.waitingCount(for: recipientID) >= Self.burst && gate.rounds >= Self.burst / Self.depth + 1
            }
            #expect(burstSpent)
            let friend = try await Self.measure(friends, to: [recipientID], on: server, gate: gate, cycles: 3)
            let bystander = try await Self.measure([(other, otherID)], to: otherRecipients, on: server, gate: gate, cycles: 3)
            gate.stop()
            let result = try await flood
            let seconds = (ContinuousClock.now - start) / .seconds(1)

            let (friendQuiet, friendFlooded) = (Latencies(friend.quiet), Latencies(friend.flooded))
            let (otherQuiet, otherFlooded) = (Latencies(bystander.quiet), Latencies(bystander.flooded))
            print("flood: flooder stored \(result.stored), refused \(result.refused) (retry-after \(result.retries.min() ?? 0)–\(result.retries.max() ?? 0) ms) in \(String(format: "%.1f", seconds)) s; \(friend.rounds) and \(bystander.rounds) of its rounds in the bystanders' flooded windows")
            print("flood: friend → same recipient, quiet \(friendQuiet); flooded \(friendFlooded)")
            print("flood: other → other recipients, quiet \(otherQuiet); flooded \(otherFlooded)")
            // `burst` at once, then four a second at most; served again after each retry-after.
            #expect(result.stored > Self.burst && Double(result.stored) <= Double(Self.burst) + 4 * seconds + 1)
            #expect(result.refused > 0 && result.retries.allSatisfy { $0 > 0 && $0 <= 250 })
            #expect(friend.rounds >= 3 && bystander.rounds >= 3)
            for (quiet, flooded) in [(friendQuiet, friendFlooded), (otherQuiet, otherFlooded)] {
                #expect(quiet.sorted.count >= 200 && flooded.sorted.count >= 200)
                // Unchanged, within this machine's noise. Without the refusal pause the flood
                // (64 deep) made the friend's p50 3.5 times its quiet one, the other's 3 times
                // (0.66 -> 2.4 ms, 0.34 -> 1.1 ms), which this bound still fails; a CI run beside
                // two builds measured a paused flood at 1.9 times (0.92 -> 1.76 ms).
                #expect(flooded.p50 <= max(quiet.p50 * 2, quiet.p50 + .microseconds(700)))
                #expect(flooded.p99 <= max(quiet.p99 * 3, quiet.p99 + .milliseconds(5)))
            }
            // Nothing refused was stored, nothing accepted was lost.
            #expect(try await stores.envelopes.waitingCount(for: recipientID) == result.stored + friend.sent)
        }
    }

    @Test("a session refused with rateLimited is not read until its retry-after (1 s at most); it stays open and is served again after it")
    func refusalPause() async throws {
        var limits = AccountLimits()
        limits.rates.sendsPerPair = .burst(1, thenOneEvery: 2)
        try await SecureAccountsTests.withServer(.memory, limits: limits) { server, stores in
            let recipientID = try await SecureLimitsTests.register(try V3TestAccount("recipient"), on: server)
            let sender = try V3TestAccount("sender")
            let senderID = try await SecureLimitsTests.register(sender, on: server)
            let send = V3Request.send(recipient: recipientID, envelope: SecureLimitsTests.envelope(1))
            try await SecureLimitsTests.signedIn(sender, senderID, on: server) { (probe: V3Probe) async throws in
                guard case .success = try await probe.call(send) else { Issue.record("the first SEND was refused"); return }
                guard case .failure(let refused) = try await probe.call(send), refused.knownCode == .rateLimited else {
                    Issue.record("the second SEND was not rate-limited"); return
                }
                #expect(refused.retryAfterMilliseconds > 1000)
                // Paused for 1 s (the cap): a PING sent now is read, and answered, once it ends.
                let start = ContinuousClock.now
                #expect(try await probe.call(.ping) == .success(.done))
                let waited = ContinuousClock.now - start
                #expect(waited >= .milliseconds(500))
                // Served again once the retry-after has passed; each early try pauses it again.
                var tries = 0
                let served = try await eventually(timeout: .seconds(15), every: .milliseconds(10)) {
                    tries += 1
                    if case .success = try await probe.call(send) { return true } else { return false }
                }
                #expect(served)
                print("refusal pause: a PING after a refusal waited \(Latencies.ms(waited)); the SEND was served again after \(Latencies.ms(ContinuousClock.now - start)), on try \(tries)")
            }
            #expect(try await stores.envelopes.waitingCount(for: recipientID) == 2)
        }
    }
}

/// Lets a background flood run or parks it between rounds, and tells which phase a
/// bystander's sample falls in.
final class FloodGate: Sendable {
    enum Phase: Hashable, Sendable { case quiet, flooding }

    private struct State {
        var open = false
        var parked = false
        var stopped = false
        var rounds = 0
        var waiter: CheckedContinuation<Void, Never>?

        /// Wakes the parked flooder: hands back its continuation.
        mutating func take() -> CheckedContinuation<Void, Never>? {
            parked = false
            defer { waiter = nil }
            return waiter
        }
    }

    private let state = Mutex(State())

    /// Rounds of the flood that have ended.
    var rounds: Int { state.withLock { $0.rounds } }
    /// The flooder waits at the closed gate.
    var parked: Bool { state.withLock { $0.parked } }
    /// `quiet` while the flooder is parked, `flooding` while the gate is open; `nil` between.
    var phase: Phase? {
        state.withLock { $0.open ? .flooding : $0.parked ? .quiet : nil }
    }

    func open() { let waiter = state.withLock { $0.open = true; return $0.take() }; waiter?.resume() }
    func close() { state.withLock { $0.open = false } }
    func stop() { let waiter = state.withLock { $0.stopped = true; $0.open = true; return $0.take() }; waiter?.resume() }
    func finishedRound() { state.withLock { $0.rounds += 1 } }

    /// The flooder, before each round: true at once while the gate is open, else once it
    /// opens; false once stopped.
    func pass() async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let go = state.withLock { state -> Bool in
                if state.open { return true }
                state.parked = true
                state.waiter = continuation
                return false
            }
            if go { continuation.resume() }
        }
        return state.withLock { !$0.stopped }
    }
}
