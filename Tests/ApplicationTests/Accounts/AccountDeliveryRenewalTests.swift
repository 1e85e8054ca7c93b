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
        #expect(await eventually { queue.counts.withLock { $0.leases } >= 6 })
        #expect(queue.counts.withLock { $0.renewals } == 0)

        _ = try await queue.enqueue(to: bob, from: alice, envelope: [1], storedAt: 0)
        notifier.post(.envelopesWaiting, to: bob)
        #expect(await eventually { recorder.envelopes.count == 1 })
        #expect(await eventually { queue.counts.withLock { $0.renewals } >= 3 })

        // Acknowledged: idle again, and the renewals stop.
        #expect(try await delivery.acknowledge(recorder.envelopes.map(\.id)) == 1)
        let renewals = queue.counts.withLock { $0.renewals }
        let leases = queue.counts.withLock { $0.leases }
        #expect(await eventually { queue.counts.withLock { $0.leases } >= leases + 6 })
        // At most one tick that was already under way when the ACK landed.
        #expect(queue.counts.withLock { $0.renewals } <= renewals + 1)
        task.cancel()
        _ = await task.result
        await delivery.end()
    }
}
