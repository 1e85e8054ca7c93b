import Application
import Synchronization

/// The delivery leases of one server process on SQLite, held in memory.
///
/// One process owns a SQLite file, so a lease need not outlive it: after a crash every lease is
/// gone and its envelopes wait again, which is what redelivery wants. `SQLiteEnvelopeQueue`
/// picks the rows to lease on the writer connection, which sees every deletion committed, so
/// a lease never takes a row that is already acknowledged.
final class SQLiteLeaseBook: Sendable {
    private struct Lease {
        let holder: LeaseHolder
        let until: UInt64
    }

    private struct State {
        /// Leased rows by id.
        var leases: [Int64: Lease] = [:]
        var byHolder: [LeaseHolder: Set<Int64>] = [:]
    }

    private let state = Mutex(State())

    /// Whether someone holds the row `id`.
    func isLeased(_ id: Int64) -> Bool {
        state.withLock { $0.leases[id] != nil }
    }

    /// Leases the first `limit` of the rows `ids` (in their order) that no one holds to
    /// `holder` until `until`, in one step: two leases taking from one inbox at once never
    /// take the same row. Returns the rows taken, in order.
    func take(unleased ids: some Sequence<Int64>, limit: Int, for holder: LeaseHolder, until: UInt64) -> [Int64] {
        guard limit > 0 else { return [] }
        return state.withLock { state in
            var taken: [Int64] = []
            for id in ids where state.leases[id] == nil {
                state.leases[id] = Lease(holder: holder, until: until)
                taken.append(id)
                if taken.count == limit { break }
            }
            if !taken.isEmpty { state.byHolder[holder, default: []].formUnion(taken) }
            return taken
        }
    }

    func renew(_ holder: LeaseHolder, until: UInt64) {
        state.withLock { state in
            for id in state.byHolder[holder] ?? [] { state.leases[id] = Lease(holder: holder, until: until) }
        }
    }

    func release(_ holder: LeaseHolder) {
        state.withLock { state in
            for id in state.byHolder.removeValue(forKey: holder) ?? [] { state.leases[id] = nil }
        }
    }

    /// Ends the leases that ran out before `now`; returns how many.
    func expire(now: UInt64) -> Int {
        state.withLock { state in
            let expired = state.leases.filter { $0.value.until < now }
            for (id, lease) in expired {
                state.leases[id] = nil
                state.byHolder[lease.holder]?.remove(id)
                if state.byHolder[lease.holder]?.isEmpty == true { state.byHolder[lease.holder] = nil }
            }
            return expired.count
        }
    }

    /// Forgets the rows `ids`, deleted.
    func forget(_ ids: some Sequence<Int64>) {
        state.withLock { state in
            for id in ids {
                guard let lease = state.leases.removeValue(forKey: id) else { continue }
                state.byHolder[lease.holder]?.remove(id)
                if state.byHolder[lease.holder]?.isEmpty == true { state.byHolder[lease.holder] = nil }
            }
        }
    }

    /// How many rows are leased, for tests.
    var leasedCount: Int { state.withLock { $0.leases.count } }
}
