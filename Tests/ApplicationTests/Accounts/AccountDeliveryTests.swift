import Adapters
@testable import Application
import Domain
import Testing

@Suite("SendEnvelope and AccountDelivery")
struct AccountDeliveryTests {
    /// Two registered accounts.
    static func pair(_ fixture: AccountFixture) async throws -> (alice: Account, bob: Account) {
        (try await fixture.register(try TestAccountKeys(), "alice"), try await fixture.register(try TestAccountKeys(), "bob"))
    }

    /// Runs a delivery for `account` in a task, recording what it pushes.
    static func start(_ fixture: AccountFixture, _ account: AccountID, window: Int) -> (AccountDelivery, PushRecorder, Task<Void, any Error>) {
        let delivery = fixture.useCases.delivery(for: account, window: window)
        let recorder = PushRecorder()
        let task = Task { try await delivery.run { recorder.record($0) } }
        return (delivery, recorder, task)
    }

    @Test("SEND refuses an empty or oversized envelope and an unknown recipient; it stamps the clock's time")
    func sendRules() async throws {
        let fixture = AccountFixture(limits: AccountLimits(maxEnvelopeBytes: 100))
        let (alice, bob) = try await Self.pair(fixture)
        for size in [0, 101] {
            await #expect { try await fixture.useCases.send([UInt8](repeating: 1, count: size), to: bob.id, from: alice.id) } throws: { error in
                if case AccountRequestError.tooLarge = error { true } else { false }
            }
        }
        await #expect(throws: AccountRequestError.noSuchAccount) {
            try await fixture.useCases.send([1], to: AccountID(bytes: [UInt8](repeating: 5, count: 16))!, from: alice.id)
        }
        let sent = try await fixture.useCases.send([UInt8](repeating: 1, count: 100), to: bob.id, from: alice.id)
        #expect(sent.storedAt == UInt64(fixture.clock.now() * 1000))
        #expect(try await fixture.queue.waitingCount(for: bob.id) == 1)
    }

    @Test("waiting envelopes are pushed oldest first, then new ones as they are sent; the sender is the session's account")
    func pushes() async throws {
        let fixture = AccountFixture()
        let (alice, bob) = try await Self.pair(fixture)
        for byte in 1...3 { _ = try await fixture.useCases.send([UInt8(byte)], to: bob.id, from: alice.id) }
        let (delivery, recorder, task) = Self.start(fixture, bob.id, window: 256)
        #expect(await eventually { recorder.envelopes.count == 3 })
        _ = try await fixture.useCases.send([4], to: bob.id, from: alice.id)
        #expect(await eventually { recorder.envelopes.count == 4 })
        #expect(recorder.envelopes.map(\.envelope) == [[1], [2], [3], [4]])
        #expect(recorder.envelopes.allSatisfy { $0.sender == alice.id && $0.recipient == bob.id })
        #expect(recorder.envelopes.map(\.id) == recorder.envelopes.map(\.id).sorted())
        task.cancel()
        _ = await task.result
        await delivery.end()
    }

    @Test("at most `window` deliveries are unacknowledged; ACK frees the window and deletes; foreign ids are ignored")
    func window() async throws {
        let fixture = AccountFixture()
        let (alice, bob) = try await Self.pair(fixture)
        for byte in 0..<10 { _ = try await fixture.useCases.send([UInt8(byte)], to: bob.id, from: alice.id) }
        let (delivery, recorder, task) = Self.start(fixture, bob.id, window: 4)
        #expect(await eventually { recorder.envelopes.count == 4 })
        try await Task.sleep(for: .milliseconds(50))
        #expect(recorder.envelopes.count == 4)
        #expect(delivery.inFlight == 4)
        // Alice's session cannot delete Bob's messages: ACK is per recipient.
        let aliceDelivery = fixture.useCases.delivery(for: alice.id, window: 4)
        #expect(try await aliceDelivery.acknowledge(recorder.envelopes.map(\.id)) == 0)
        #expect(try await delivery.acknowledge(Array(recorder.envelopes.prefix(2).map(\.id))) == 2)
        #expect(await eventually { recorder.envelopes.count == 6 })
        #expect(try await delivery.acknowledge(Array(recorder.envelopes.prefix(2).map(\.id))) == 0)
        #expect(try await fixture.queue.waitingCount(for: bob.id) == 8)
        task.cancel()
        _ = await task.result
        await delivery.end()
    }

    @Test("caughtUp: once, after the last envelope that waited; not while the window is full; not again for later arrivals")
    func caughtUp() async throws {
        let fixture = AccountFixture()
        let (alice, bob) = try await Self.pair(fixture)
        for byte in 0..<5 { _ = try await fixture.useCases.send([UInt8(byte)], to: bob.id, from: alice.id) }
        let (delivery, recorder, task) = Self.start(fixture, bob.id, window: 4)
        #expect(await eventually { recorder.envelopes.count == 4 })
        // The window is full and one more waits: no caughtUp until an ACK makes room.
        #expect(!recorder.kinds.contains("caughtUp"))
        _ = try await delivery.acknowledge(recorder.envelopes.map(\.id))
        #expect(await eventually { recorder.kinds.contains("caughtUp") })
        #expect(recorder.envelopes.count == 5)
        #expect(recorder.kinds.last == "caughtUp")
        _ = try await fixture.useCases.send([9], to: bob.id, from: alice.id)
        #expect(await eventually { recorder.envelopes.count == 6 })
        #expect(recorder.kinds.filter { $0 == "caughtUp" }.count == 1)
        task.cancel()
        _ = await task.result
        await delivery.end()
    }

    @Test("caughtUp comes at once for an empty inbox")
    func caughtUpEmpty() async throws {
        let fixture = AccountFixture()
        let (_, bob) = try await Self.pair(fixture)
        let (delivery, recorder, task) = Self.start(fixture, bob.id, window: 4)
        #expect(await eventually { recorder.kinds == ["caughtUp"] })
        task.cancel()
        _ = await task.result
        await delivery.end()
    }

    @Test("what a session held unacknowledged goes to the account's next session; two sessions get each envelope once in total")
    func onceInTotal() async throws {
        let fixture = AccountFixture()
        let (alice, bob) = try await Self.pair(fixture)
        for byte in 0..<6 { _ = try await fixture.useCases.send([UInt8(byte)], to: bob.id, from: alice.id) }
        let (first, firstPushes, firstTask) = Self.start(fixture, bob.id, window: 4)
        #expect(await eventually { firstPushes.envelopes.count == 4 })
        let (second, secondPushes, secondTask) = Self.start(fixture, bob.id, window: 4)
        #expect(await eventually { secondPushes.envelopes.count == 2 })
        #expect(Set(firstPushes.envelopes.map(\.id)).isDisjoint(with: secondPushes.envelopes.map(\.id)))
        _ = try await first.acknowledge([firstPushes.envelopes[0].id])
        // The first session ends without acknowledging the other three: the second gets them.
        firstTask.cancel()
        _ = await firstTask.result
        await first.end()
        // Its window (4) holds two of the three given back; acknowledging frees room for the last.
        #expect(await eventually { secondPushes.envelopes.count == 4 })
        _ = try await second.acknowledge(secondPushes.envelopes.map(\.id))
        #expect(await eventually { secondPushes.envelopes.count == 5 })
        let all = (firstPushes.envelopes.prefix(1) + secondPushes.envelopes).map(\.envelope)
        #expect(Set(all) == Set((0..<6).map { [UInt8($0)] }))
        secondTask.cancel()
        _ = await secondTask.result
        await second.end()
    }

    @Test("a prekeysLow event reaches the owner's session as a push")
    func notices() async throws {
        let fixture = AccountFixture()
        let keys = try TestAccountKeys()
        let alice = try await fixture.register(keys, "alice", prekeys: 1)
        let (delivery, recorder, task) = Self.start(fixture, alice.id, window: 8)
        // Every fetch from now on finds fewer than 10 left and tells the owner; the first
        // ones may come before the session has subscribed, so fetch until one arrives.
        #expect(try await eventually {
            _ = try await fixture.useCases.fetchBundle(of: alice.id)
            return !recorder.notices.isEmpty
        })
        #expect(recorder.notices.allSatisfy { $0 == 0 })
        task.cancel()
        _ = await task.result
        await delivery.end()
    }
}
