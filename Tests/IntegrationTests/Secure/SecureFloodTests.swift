import Adapters
import Application
import Domain
import Foundation
import Synchronization
import Testing

/// One account flooding over real TLS (docs/protocol-v3.md §7.1, §7.4): it is rate-limited,
/// its reads are paused until its retry-after, and the others, a sender to the same inbox and
/// a sender to other inboxes, are served at the latency they had before the flood, measured in
/// the same test.
@Suite("secure flood", .serialized)
struct SecureFloodTests {
    /// SENDs a sampler makes per pair: below the pair's burst (60), so that a well-behaved
    /// sender is never rate-limited itself.
    static let perPair = 50

    /// The defaults, except that a pair's bucket refills four times a second, so that a flood
    /// meets several retry-afters in a second, and that one address may register the test's
    /// many accounts.
    static var limits: AccountLimits {
        var limits = AccountLimits()
        limits.rates.sendsPerPair = .burst(60, thenOneEvery: 0.25)
        limits.rates.registrations = .burst(1000, thenOneEvery: 1)
        return limits
    }

    /// The round trips of well-behaved SENDs made one at a time: `senders` each sign in on a
    /// session of their own first, then each in turn sends `perPair` to each recipient, until
    /// `enough` says so (given the samples taken so far) or the pairs are used up.
    static func sample(_ senders: ArraySlice<(V3TestAccount, AccountID)>, to recipients: ArraySlice<AccountID>, on server: SecureTestServer,
                       enough: @Sendable (Int) -> Bool = { _ in false }) async throws -> Latencies {
        try await withSessions(senders, on: server) { (probes: [V3Probe]) async throws in
            var samples: [Duration] = []
            for probe in probes {
                for recipient in recipients {
                    for _ in 0..<perPair {
                        if enough(samples.count) { return Latencies(samples) }
                        let start = ContinuousClock.now
                        let answer = try await probe.call(.send(recipient: recipient, envelope: SecureLimitsTests.envelope(1)))
                        guard case .success = answer else { throw ProbeError("a well-behaved SEND was refused: \(answer)") }
                        samples.append(ContinuousClock.now - start)
                    }
                }
            }
            return Latencies(samples)
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
            // Friends send to the flooded inbox; the other sends to inboxes of its own. Each
            // pair stays under its burst; the first half of each serve the quiet phase.
            let friends = try await Self.register("friend", 100, on: server)[...]
            let otherRecipients = try await Self.register("other-recipient", 100, on: server).map(\.1)[...]

            // Quiet: each bystander in turn samples for a second at least, 200 times at least,
            // as during the flood below, so that both phases meet this machine's other load
            // for as long.
            func quietly(_ senders: ArraySlice<(V3TestAccount, AccountID)>, to recipients: ArraySlice<AccountID>) async throws -> Latencies {
                let measuring = ContinuousClock.now
                return try await Self.sample(senders, to: recipients, on: server) { taken in
                    taken >= 200 && ContinuousClock.now - measuring > .seconds(1)
                }
            }
            let friendBefore = try await quietly(friends.prefix(50), to: [recipientID])
            let otherBefore = try await quietly([(other, otherID)], to: otherRecipients.prefix(50))

            // Flood: the flooder pipelines 200 SENDs at a time until the bystanders are done.
            let progress = FloodProgress()
            let start = ContinuousClock.now
            async let flood: (stored: Int, refused: Int, retries: [UInt32]) = SecureLimitsTests.signedIn(flooder, flooderID, on: server) { (probe: V3Probe) async throws in
                var (stored, refused, retries) = (0, 0, [UInt32]())
                while !progress.stopped {
                    let answers = try await probe.pipeline((0..<200).map { _ in .send(recipient: recipientID, envelope: SecureLimitsTests.envelope(9)) })
                    for answer in answers {
                        switch answer {
                        case .success: stored += 1
                        case .failure(let error) where error.knownCode == .rateLimited:
                            refused += 1
                            retries.append(error.retryAfterMilliseconds)
                        case .failure(let error): throw ProbeError("the flood got \(error)")
                        }
                    }
                    progress.finishedRound()
                }
                return (stored, refused, retries)
            }
            // Let the flood spend its burst and meet its first refusals.
            #expect(try await eventually(timeout: .seconds(20)) { try await stores.envelopes.waitingCount(for: recipientID) >= 60 && progress.rounds >= 1 })
            // During: each bystander in turn samples for a second at least, across four of the
            // flood's rounds at least, 200 times at least.
            func during(_ senders: ArraySlice<(V3TestAccount, AccountID)>, to recipients: ArraySlice<AccountID>) async throws -> (Latencies, rounds: Int) {
                let first = progress.rounds
                let measuring = ContinuousClock.now
                let latencies = try await Self.sample(senders, to: recipients, on: server) { taken in
                    taken >= 200 && progress.rounds >= first + 4 && ContinuousClock.now - measuring > .seconds(1)
                }
                return (latencies, progress.rounds - first)
            }
            let (friendDuring, friendRounds) = try await during(friends.dropFirst(50), to: [recipientID])
            let (otherDuring, otherRounds) = try await during([(other, otherID)], to: otherRecipients.dropFirst(50))
            progress.stop()
            let result = try await flood
            let seconds = (ContinuousClock.now - start) / .seconds(1)

            print("flood: flooder stored \(result.stored), refused \(result.refused) (\(Int(Double(result.refused) / seconds))/s, retry-after \(result.retries.min() ?? 0)–\(result.retries.max() ?? 0) ms) in \(String(format: "%.1f", seconds)) s; \(friendRounds) and \(otherRounds) of its rounds while the bystanders sampled")
            print("flood: friend → same recipient, quiet \(friendBefore); during \(friendDuring)")
            print("flood: other → other recipients, quiet \(otherBefore); during \(otherDuring)")
            // 60 at once, then four a second at most; served again after each retry-after.
            #expect(result.stored > 60 && Double(result.stored) <= 60 + 4 * seconds + 1)
            #expect(result.refused > 0 && result.retries.allSatisfy { $0 > 0 && $0 <= 250 })
            // The bystanders' samples overlapped the flood's refusals.
            #expect(friendRounds >= 2 && otherRounds >= 2)
            for (quiet, during) in [(friendBefore, friendDuring), (otherBefore, otherDuring)] {
                #expect(during.sorted.count >= 200)
                #expect(during.p50 <= max(quiet.p50 * 2, quiet.p50 + .milliseconds(2)))
                #expect(during.p99 <= max(quiet.p99 * 3, quiet.p99 + .milliseconds(10)))
            }
            // Nothing refused was stored, nothing accepted was lost.
            let friendSent = friendBefore.sorted.count + friendDuring.sorted.count
            #expect(try await stores.envelopes.waitingCount(for: recipientID) == result.stored + friendSent)
        }
    }
}

/// A background flood's rounds, and the flag that stops it.
final class FloodProgress: Sendable {
    private let finished = Atomic(0)
    private let stopFlag = Atomic(false)
    var rounds: Int { finished.load(ordering: .relaxed) }
    var stopped: Bool { stopFlag.load(ordering: .relaxed) }
    func finishedRound() { finished.add(1, ordering: .relaxed) }
    func stop() { stopFlag.store(true, ordering: .relaxed) }
}
