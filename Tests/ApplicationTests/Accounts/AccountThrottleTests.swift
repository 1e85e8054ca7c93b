import Application
import Domain
import Synchronization
import Testing

/// The rate limits over a manual clock: no sockets, no sleeping.
@Suite("AccountThrottle")
struct AccountThrottleTests {
    final class ManualTime: Sendable {
        private let seconds = Mutex(1_700_000_000.0)
        func advance(_ by: Double) { seconds.withLock { $0 += by } }
        var now: @Sendable () -> Double { { self.seconds.withLock { $0 } } }
    }

    let alice = AccountID(bytes: [UInt8](repeating: 0xa1, count: 16))!
    let bob = AccountID(bytes: [UInt8](repeating: 0xb0, count: 16))!
    let carol = AccountID(bytes: [UInt8](repeating: 0xca, count: 16))!

    /// `nil` when `body` passed; the retry-after of its `rateLimited`; 0 for any other error.
    func retryAfter(_ body: () throws -> Void) -> UInt32? {
        do {
            try body()
            return nil
        } catch AccountRequestError.rateLimited(let after, _) {
            return after
        } catch {
            return 0
        }
    }

    @Test("SEND: 60 per pair, then one a second; other pairs into the same inbox are not touched")
    func sendsPerPair() {
        let time = ManualTime()
        let throttle = AccountThrottle(RateLimits(), now: time.now)
        for _ in 0..<60 { #expect(retryAfter { try throttle.send(from: alice, to: bob, bytes: 100) } == nil) }
        #expect(retryAfter { try throttle.send(from: alice, to: bob, bytes: 100) } == 1000)
        #expect(retryAfter { try throttle.send(from: carol, to: bob, bytes: 100) } == nil)
        #expect(retryAfter { try throttle.send(from: alice, to: carol, bytes: 100) } == nil)
        time.advance(0.25)
        #expect(retryAfter { try throttle.send(from: alice, to: bob, bytes: 100) } == 750)
        time.advance(0.75)
        #expect(retryAfter { try throttle.send(from: alice, to: bob, bytes: 100) } == nil)
    }

    @Test("SEND: the recipient's byte bucket, from all senders together")
    func inboundBytes() {
        let time = ManualTime()
        let throttle = AccountThrottle(RateLimits(inboundBytesPerRecipient: RateLimit(burst: 1000, perSecond: 100)), now: time.now)
        #expect(retryAfter { try throttle.send(from: alice, to: bob, bytes: 600) } == nil)
        #expect(retryAfter { try throttle.send(from: carol, to: bob, bytes: 600) } == 2000)
        #expect(retryAfter { try throttle.send(from: carol, to: alice, bytes: 600) } == nil)
    }

    @Test("bundle fetches: 6, then one every 100 s")
    func bundleFetches() {
        let time = ManualTime()
        let throttle = AccountThrottle(RateLimits(), now: time.now)
        for _ in 0..<6 { #expect(retryAfter { try throttle.fetchBundle(by: alice) } == nil) }
        #expect(retryAfter { try throttle.fetchBundle(by: alice) } == 100_000)
        #expect(retryAfter { try throttle.fetchBundle(by: bob) } == nil)
        time.advance(100)
        #expect(retryAfter { try throttle.fetchBundle(by: alice) } == nil)
    }

    @Test("registrations and failed authentications per address; a success costs nothing")
    func addresses() {
        let time = ManualTime()
        let throttle = AccountThrottle(RateLimits(), now: time.now)
        for _ in 0..<10 { #expect(retryAfter { try throttle.register(from: "10.0.0.1") } == nil) }
        #expect(retryAfter { try throttle.register(from: "10.0.0.1") } == 60_000)
        #expect(retryAfter { try throttle.register(from: "10.0.0.2") } == nil)
        #expect(retryAfter { try throttle.register(from: nil) } == nil)

        for _ in 0..<10 {
            #expect(retryAfter { try throttle.authenticate(from: "10.0.0.1") } == nil)
            throttle.authenticationFailed(from: "10.0.0.1")
        }
        #expect(retryAfter { try throttle.authenticate(from: "10.0.0.1") } == 10_000)
        #expect(retryAfter { try throttle.authenticate(from: "10.0.0.2") } == nil)
        time.advance(10)
        #expect(retryAfter { try throttle.authenticate(from: "10.0.0.1") } == nil)
    }

    @Test("drained buckets are forgotten, so memory follows the keys active lately")
    func forgetting() {
        let time = ManualTime()
        let limiter = RateLimiter<Int>(.burst(1, thenOneEvery: 1), now: time.now)
        for key in 0..<1024 { _ = limiter.take(for: key) }
        time.advance(2)
        _ = limiter.take(for: -1)
        #expect(limiter.count == 1)
    }

    @Test("the words for a client: rate-limited and inbox-full refusals with their waits")
    func explanation() {
        #expect(LimitExplanation.text(code: 11, retryAfterMilliseconds: 11_200) == "rate-limited: retry in 12 s")
        #expect(LimitExplanation.text(code: 12, retryAfterMilliseconds: 60_000) == "the recipient's inbox is full: retry in 1 min")
        #expect(LimitExplanation.text(code: 11, retryAfterMilliseconds: 1) == "rate-limited: retry in 1 s")
        #expect(LimitExplanation.duration(milliseconds: 3_900_000) == "1 h 5 min")
        #expect(LimitExplanation.duration(milliseconds: 86_400_000) == "1 day")
        #expect(LimitExplanation.text(code: 5, retryAfterMilliseconds: 0) == nil)
        #expect(LimitExplanation.text(for: .inboxFull(retryAfterMilliseconds: 2000, "full")) == "the recipient's inbox is full: retry in 2 s")
    }
}
