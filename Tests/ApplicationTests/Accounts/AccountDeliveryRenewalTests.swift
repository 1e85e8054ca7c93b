import Adapters
@testable import Application
import Domain
import Testing

/// Lease renewal costs the store only while something is held: ten thousand idle sessions
/// must not write to it every few seconds.
@Suite("AccountDelivery lease renewal")
struct AccountDeliveryRenewalTests {
    @Test("an idle session renews nothing; one holding an unacknowledged delivery renews its lease")
    func renewsOnlyWhatItHolds() async throws {
        let queue = CountingEnvelopeQueue(InMemoryEnvelopeQueue())
        let notifier = LocalDeliveryNotifier()
        let bob = AccountID(bytes: [UInt8](repeating: 0xB0, count: 16))!
        let alice = AccountID(bytes: [UInt8](repeating: 0xA1, count: 16))!
        // A renewal tick every 20 ms.
        let delivery = AccountDelivery(account: bob, queue: queue, notifier: notifier, clock: ManualClock(), window: 4,
                                       limits: AccountLimits(leaseSeconds: 0.06))
        let recorder = PushRecorder()
        let task = Task { try await delivery.run { recorder.record($0) } }

        // Each tick looks for leases run out elsewhere (a lease call); none renews.
        #expect(await eventually(within: 30) { queue.counts.withLock { $0.leases } >= 6 })
        #expect(queue.counts.withLock { $0.renewals } == 0)

        _ = try await queue.enqueue(to: bob, from: alice, envelope: [1], storedAt: 0)
        notifier.post(.envelopesWaiting, to: bob)
        #expect(await eventually { recorder.envelopes.count == 1 })
        #expect(await eventually(within: 30) { queue.counts.withLock { $0.renewals } >= 3 })

        // Acknowledged: idle again, and the renewals stop.
        #expect(try await delivery.acknowledge(recorder.envelopes.map(\.id)) == 1)
        let renewals = queue.counts.withLock { $0.renewals }
        let leases = queue.counts.withLock { $0.leases }
        #expect(await eventually(within: 30) { queue.counts.withLock { $0.leases } >= leases + 6 })
        // At most one tick that was already under way when the ACK landed.
        #expect(queue.counts.withLock { $0.renewals } <= renewals + 1)
        task.cancel()
        _ = await task.result
        await delivery.end()
    }

    @Test("a push held back (a client that does not read) does not stop the renewal of what was delivered")
    func renewsWhilePushIsHeldBack() async throws {
        let queue = CountingEnvelopeQueue(InMemoryEnvelopeQueue())
        let bob = AccountID(bytes: [UInt8](repeating: 0xB0, count: 16))!
        let alice = AccountID(bytes: [UInt8](repeating: 0xA1, count: 16))!
        for byte: UInt8 in 1...2 { _ = try await queue.enqueue(to: bob, from: alice, envelope: [byte], storedAt: 0) }
        // Window 1: the first push goes through; the second (after the ACK) never returns.
        let delivery = AccountDelivery(account: bob, queue: queue, notifier: LocalDeliveryNotifier(), clock: ManualClock(), window: 1,
                                       limits: AccountLimits(leaseSeconds: 0.06))
        let recorder = PushRecorder()
        let task = Task {
            try await delivery.run { push in
                recorder.record(push)
                if recorder.envelopes.count == 2 { try await Task.sleep(for: .seconds(60)) }
            }
        }
        #expect(await eventually { recorder.envelopes.count == 1 })
        _ = try await delivery.acknowledge(recorder.envelopes.map(\.id))
        #expect(await eventually { recorder.envelopes.count == 2 })
        let renewals = queue.counts.withLock { $0.renewals }
        #expect(await eventually { queue.counts.withLock { $0.renewals } >= renewals + 3 })
        task.cancel()
        _ = await task.result
        await delivery.end()
    }
}
