import Domain
import Testing

@Suite("LeakyBucket")
struct LeakyBucketTests {
    let perPair = RateLimit.burst(60, thenOneEvery: 1)

    @Test("a burst fits at once; the next waits for the bucket to drain, and then fits")
    func burstThenRate() {
        var bucket = LeakyBucket(perPair, now: 1000)
        for _ in 0..<60 { #expect(bucket.take(1, now: 1000) == 0) }
        #expect(bucket.take(1, now: 1000) == 1)
        // A refusal pours nothing: the wait does not grow by asking.
        #expect(bucket.take(1, now: 1000) == 1)
        #expect(bucket.take(1, now: 1000.5) == 0.5)
        #expect(bucket.take(1, now: 1001) == 0)
        #expect(bucket.take(1, now: 1001) == 1)
    }

    @Test("it drains at its rate, never below empty; a clock that goes back drains nothing")
    func draining() {
        var bucket = LeakyBucket(.burst(6, thenOneEvery: 100), now: 0)
        for _ in 0..<6 { #expect(bucket.take(1, now: 0) == 0) }
        #expect(bucket.wait(for: 1, now: 0) == 100)
        #expect(bucket.level(at: 250) == 3.5)
        #expect(bucket.level(at: -50) == 6)
        #expect(bucket.isEmpty(at: 600) && !bucket.isEmpty(at: 599))
        #expect(bucket.take(6, now: 10_000) == 0)
    }

    @Test("costs in bytes: a cost larger than the burst never fits")
    func bytes() {
        var bucket = LeakyBucket(RateLimit(burst: 1000, perSecond: 100), now: 0)
        #expect(bucket.take(900, now: 0) == 0)
        #expect(bucket.take(200, now: 0) == 1)
        #expect(bucket.take(200, now: 1) == 0)
        #expect(bucket.wait(for: 1001, now: 1_000_000) == .infinity)
        #expect(LeakyBucket(RateLimit(burst: 1, perSecond: 0), now: 0).wait(for: 2, now: 0) == .infinity)
    }
}
