import Synchronization
import Domain

/// The claims of one server process, held in memory.
///
/// The store is used by one process, so a claim need not outlive it: after a crash every
/// claim is gone and its messages are waiting again, which is what redelivery wants.
final class SQLiteClaimBook: Sendable {
    /// What a claim holds of one message: its row id and, when streamed, its blob name.
    struct Held: Sendable {
        let rowID: Int64
        let blobName: String?
    }

    private struct State {
        var nextToken: UInt64 = 1
        /// Row ids held by any claim.
        var claimed: Set<Int64> = []
        /// Claims by token, messages by their 32-bit id.
        var claims: [UInt64: [MessageID: Held]] = [:]
    }

    private let state = Mutex(State())

    /// Whether any claim holds the row `rowID`.
    func isClaimed(_ rowID: Int64) -> Bool {
        state.withLock { $0.claimed.contains(rowID) }
    }

    /// Records a new claim over `held`, skipping rows another claim took meanwhile, and
    /// returns its token and the rows it got.
    func open(_ held: [MessageID: Held]) -> (token: UInt64, held: [MessageID: Held]) {
        state.withLock { state in
            let token = state.nextToken
            state.nextToken &+= 1
            let free = held.filter { !state.claimed.contains($0.value.rowID) }
            state.claimed.formUnion(free.values.map(\.rowID))
            if !free.isEmpty { state.claims[token] = free }
            return (token, free)
        }
    }

    /// The message `id` when claim `token` holds it.
    func held(_ id: MessageID, by token: UInt64) -> Held? {
        state.withLock { $0.claims[token]?[id] }
    }

    /// Everything claim `token` holds; empty for an unknown token.
    func all(of token: UInt64) -> [Held] {
        state.withLock { state in state.claims[token].map { Array($0.values) } ?? [] }
    }

    /// Forgets claim `token`, making its rows claimable again.
    func close(_ token: UInt64) {
        state.withLock { state in
            guard let held = state.claims.removeValue(forKey: token) else { return }
            state.claimed.subtract(held.values.map(\.rowID))
        }
    }

    /// How many claims are open, for tests.
    var openClaims: Int { state.withLock { $0.claims.count } }
}
