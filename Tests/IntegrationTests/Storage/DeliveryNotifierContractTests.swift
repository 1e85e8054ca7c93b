import Application
import Domain
import Synchronization
import Testing

/// The `DeliveryNotifier` contract within one process, run against every store's notifier:
/// `LocalDeliveryNotifier` for memory and SQLite, `PostgresDeliveryNotifier` for PostgreSQL.
/// Events between processes are in `PostgresV3SharingTests`.
@Suite("Delivery notifier contract")
struct DeliveryNotifierContractTests {
    let alice = V3Fixtures.accountID(0xa1)
    let bob = V3Fixtures.accountID(0xb0)

    @Test("post reaches every subscription of the account, and only those", arguments: StoreKind.available)
    func postAndSubscribe(kind: StoreKind) async throws {
        try await AccountTestStores.with(kind) { stores async throws in
            let notifier = stores.notifier
            let one = notifier.subscribe(alice)
            let two = notifier.subscribe(alice)
            let bobs = notifier.subscribe(bob)
            let oneSeen = EventLog(one)
            let twoSeen = EventLog(two)
            let bobSeen = EventLog(bobs)

            await notifier.post(.envelopesWaiting, to: alice)
            await notifier.post(.prekeysLow(3), to: alice)
            await notifier.post(.prekeysLow(0), to: bob)

            // Delivery may repeat (PostgreSQL echoes its own posts), so compare without repeats.
            #expect(try await eventually { oneSeen.distinct == [.envelopesWaiting, .prekeysLow(3)] })
            #expect(try await eventually { twoSeen.distinct == [.envelopesWaiting, .prekeysLow(3)] })
            #expect(try await eventually { bobSeen.distinct == [.prekeysLow(0)] })
            #expect(oneSeen.distinct == [.envelopesWaiting, .prekeysLow(3)])
            one.cancel()
            two.cancel()
            bobs.cancel()
            await oneSeen.finished()
            await twoSeen.finished()
            await bobSeen.finished()
        }
    }

    @Test("cancel: events end, later posts go nowhere, other subscriptions go on; cancel twice is harmless", arguments: StoreKind.available)
    func cancel(kind: StoreKind) async throws {
        try await AccountTestStores.with(kind) { stores async throws in
            let notifier = stores.notifier
            let leaving = notifier.subscribe(alice)
            let staying = notifier.subscribe(alice)
            let leavingSeen = EventLog(leaving)
            let stayingSeen = EventLog(staying)

            await notifier.post(.prekeysLow(1), to: alice)
            #expect(try await eventually { leavingSeen.distinct == [.prekeysLow(1)] })
            leaving.cancel()
            leaving.cancel()
            await leavingSeen.finished()

            await notifier.post(.prekeysLow(2), to: alice)
            #expect(try await eventually { stayingSeen.distinct == [.prekeysLow(1), .prekeysLow(2)] })
            #expect(leavingSeen.distinct == [.prekeysLow(1)])

            // A subscription made after a post does not see it.
            let late = notifier.subscribe(alice)
            let lateSeen = EventLog(late)
            await notifier.post(.envelopesWaiting, to: alice)
            #expect(try await eventually { lateSeen.distinct == [.envelopesWaiting] })
            #expect(try await eventually { stayingSeen.distinct.last == .envelopesWaiting })
            #expect(!lateSeen.events.contains(.prekeysLow(2)))
            staying.cancel()
            late.cancel()
            await stayingSeen.finished()
            await lateSeen.finished()
        }
    }

    @Test("a reader that falls behind loses old events, not new ones", arguments: StoreKind.available)
    func boundedBuffer(kind: StoreKind) async throws {
        try await AccountTestStores.with(kind) { stores async throws in
            let subscription = stores.notifier.subscribe(alice)
            for count in 0..<200 { await stores.notifier.post(.prekeysLow(count), to: alice) }
            // Nobody read meanwhile; the newest event is there, and far fewer than 200 are.
            let seen = EventLog(subscription)
            #expect(try await eventually { seen.events.last == .prekeysLow(199) })
            subscription.cancel()
            await seen.finished()
            // PostgreSQL's echoes of the posts may still be arriving while the reader reads, so
            // the bound is checked where nothing arrives late.
            if kind != .postgres { #expect(seen.events.count <= 16) }
        }
    }
}

/// Reads a subscription's events in a task of its own and keeps them for the test to poll.
final class EventLog: Sendable {
    private final class Seen: Sendable {
        let events = Mutex<[AccountEvent]>([])
    }

    private let seen = Seen()
    private let reader: Task<Void, Never>

    init(_ subscription: AccountSubscription) {
        let seen = self.seen
        reader = Task {
            for await event in subscription.events { seen.events.withLock { $0.append(event) } }
        }
    }

    var events: [AccountEvent] { seen.events.withLock { $0 } }

    /// The events without repeats, in the order first seen.
    var distinct: [AccountEvent] {
        var known = Set<AccountEvent>()
        return events.filter { known.insert($0).inserted }
    }

    /// Waits for the events to end (the subscription was cancelled).
    func finished() async {
        await reader.value
    }
}
