import Application
import Testing

@Suite("ClaimBudget")
struct ClaimBudgetTests {
    /// Offers `sizes` in order, as a store does, and returns how many were admitted.
    private func admitted(_ sizes: [UInt32], into budget: inout ClaimBudget) -> Int {
        for (index, size) in sizes.enumerated() {
            if budget.isExhausted || !budget.admit(contentSize: size) { return index }
        }
        return sizes.count
    }

    @Test("a message costs its content plus the overhead")
    func cost() {
        let budget = ClaimBudget(totalBytes: 1000, perMessageOverhead: 25)
        #expect(budget.cost(ofContentSize: 0) == 25)
        #expect(budget.cost(ofContentSize: 100) == 125)
        #expect(ClaimBudget(totalBytes: 0, perMessageOverhead: .max).cost(ofContentSize: 1) == .max)
    }

    @Test("the first message always fits, however large")
    func firstAlwaysFits() {
        var budget = ClaimBudget(totalBytes: 10, perMessageOverhead: 25)
        #expect(!budget.isExhausted)
        do { let fits = budget.admit(contentSize: 1000); #expect(fits) }
        #expect(budget.usedBytes == 1025 && budget.admitted == 1)
        #expect(budget.isExhausted)
        do { let fits = budget.admit(contentSize: 0); #expect(!fits) }
        #expect(budget.admitted == 1)

        var zero = ClaimBudget(totalBytes: 0, perMessageOverhead: 0)
        do { let fits = zero.admit(contentSize: UInt32.max); #expect(fits) }
        do { let fits = zero.admit(contentSize: 0); #expect(!fits) }
    }

    @Test("stops before going over: an exact fit is taken, one byte more is not")
    func stopsBeforeGoingOver() {
        var exact = ClaimBudget(totalBytes: 250, perMessageOverhead: 25)
        do { let count = admitted([100, 100, 0], into: &exact); #expect(count == 2) }
        #expect(exact.usedBytes == 250)
        #expect(exact.isExhausted)

        var short = ClaimBudget(totalBytes: 249, perMessageOverhead: 25)
        do { let count = admitted([100, 100], into: &short); #expect(count == 1) }
        #expect(short.usedBytes == 125)
        #expect(!short.isExhausted, "an empty message (25) would still fit")
    }

    @Test("a message that does not fit ends the claim; a smaller later one is not taken instead")
    func endsAtTheFirstMisfit() {
        var budget = ClaimBudget(totalBytes: 60, perMessageOverhead: 25)
        do { let fits = budget.admit(contentSize: 3); #expect(fits) }
        do { let fits = budget.admit(contentSize: 0); #expect(fits) }
        do { let fits = budget.admit(contentSize: 100); #expect(!fits) }
        #expect(budget.usedBytes == 53 && budget.admitted == 2)
        do { let count = admitted([3, 0, 100, 0], into: &budget); #expect(count == 0) }
    }

    @Test("exhausted exactly when not even an empty message fits")
    func exhaustion() {
        var budget = ClaimBudget(totalBytes: 75, perMessageOverhead: 25)
        do { let fits = budget.admit(contentSize: 25); #expect(fits) }
        #expect(!budget.isExhausted)
        do { let fits = budget.admit(contentSize: 0); #expect(fits) }
        #expect(budget.isExhausted)

        var free = ClaimBudget(totalBytes: 0, perMessageOverhead: 0)
        do { let fits = free.admit(contentSize: 0); #expect(fits) }
        #expect(!free.isExhausted, "with no overhead, empty messages cost nothing")
        do { let fits = free.admit(contentSize: 0); #expect(fits) }
    }

    @Test("no overflow near UInt64.max")
    func noOverflow() {
        var unlimited = ClaimBudget(totalBytes: .max, perMessageOverhead: 25)
        do { let count = admitted(Array(repeating: UInt32.max, count: 1000), into: &unlimited); #expect(count == 1000) }
        #expect(!unlimited.isExhausted)

        var huge = ClaimBudget(totalBytes: .max, perMessageOverhead: .max - 10)
        do { let fits = huge.admit(contentSize: 5); #expect(fits) }
        do { let fits = huge.admit(contentSize: 5); #expect(!fits, "the sum would wrap") }
        #expect(huge.isExhausted)
    }
}
