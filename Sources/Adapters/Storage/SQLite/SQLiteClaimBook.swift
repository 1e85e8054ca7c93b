import Synchronization
import Domain

/// The claims of one server process, held in memory.
///
/// The store is used by one process, so a claim need not outlive it: after a crash every
/// claim is gone and its messages are waiting again, which is what redelivery wants.
///
/// Claims read their candidates on the claim reader's connection, each batch in a snapshot
/// of its own, while acknowledgements delete rows on the writer. A snapshot taken before a
/// delete committed still shows the deleted rows, so acknowledged rows stay marked here
/// ("retired") until every read that began before the delete has ended: a claim never
/// takes a row that is already gone. A read announces itself with `beginRead()` before its
/// snapshot is opened, and ends with `open(_:of:after:)` or `endRead(_:)`.
///
/// Marks are kept per inbox, so that a read copies the marks of its inbox once
/// (`marks(of:)`) and checks its rows against that copy without taking the lock again:
/// taking it once per row made concurrent claims spin on it.
final class SQLiteClaimBook: Sendable {
    /// What a claim holds of one message: its row id (the message id) and, when streamed,
    /// its blob name.
    struct Held: Sendable {
        let rowID: Int64
        let blobName: String?
    }

    /// A read in progress: claims retired after it began stay marked until it ends.
    struct Read: Sendable {
        fileprivate let number: UInt64
        fileprivate let generation: UInt64
    }

    private struct Claim {
        let inbox: ClientID
        let held: [MessageID: Held]
    }

    private struct Retired {
        let generation: UInt64
        let inbox: ClientID
        let rows: [Int64]
    }

    private struct State {
        var nextToken: UInt64 = 1
        /// Per inbox, the row ids held by any claim, and retired rows some read may still see.
        var marked: [ClientID: Set<Int64>] = [:]
        /// Claims by token.
        var claims: [UInt64: Claim] = [:]
        /// Counts acknowledgements; a read remembers the count it began at.
        var generation: UInt64 = 0
        var nextRead: UInt64 = 0
        /// Reads in progress: number → the generation at which each began.
        var reads: [UInt64: UInt64] = [:]
        /// Deleted rows still marked, oldest first, with the generation of their deletion.
        var retired: [Retired] = []

        mutating func unmark(_ rows: some Sequence<Int64>, in inbox: ClientID) {
            guard var set = marked.removeValue(forKey: inbox) else { return }
            set.subtract(rows)
            if !set.isEmpty { marked[inbox] = set }
        }

        func isMarked(_ rowID: Int64, in inbox: ClientID) -> Bool {
            marked[inbox]?.contains(rowID) ?? false
        }

        /// Unmarks the retired rows no read in progress can see any more: those deleted at a
        /// generation no read began before.
        mutating func purgeRetired() {
            guard !retired.isEmpty else { return }
            let oldest = reads.values.min() ?? .max
            var purged = 0
            for batch in retired {
                guard batch.generation <= oldest else { break }
                unmark(batch.rows, in: batch.inbox)
                purged += 1
            }
            if purged > 0 { retired.removeFirst(purged) }
        }
    }

    private let state = Mutex(State())

    /// Announces a read of candidates; call before its snapshot is opened.
    func beginRead() -> Read {
        state.withLock { state in
            state.nextRead &+= 1
            state.reads[state.nextRead] = state.generation
            return Read(number: state.nextRead, generation: state.generation)
        }
    }

    /// Ends a read that claims nothing.
    func endRead(_ read: Read) {
        state.withLock { state in
            state.reads[read.number] = nil
            state.purgeRetired()
        }
    }

    /// The rows of `inbox` that a read must pass over now: held by a claim, or deleted under
    /// a read in progress. A copy: rows marked later are caught by `open(_:of:after:)`.
    func marks(of inbox: ClientID) -> Set<Int64> {
        state.withLock { $0.marked[inbox] ?? [] }
    }

    /// Whether any claim holds the row `rowID` of `inbox`, or it was deleted under a read in
    /// progress.
    func isClaimed(_ rowID: Int64, in inbox: ClientID) -> Bool {
        state.withLock { $0.isMarked(rowID, in: inbox) }
    }

    /// Records a new claim over `held`, the candidates `read` found in `inbox`, skipping
    /// rows another claim took meanwhile; ends the read and returns the token and the rows
    /// it got.
    func open(_ held: [MessageID: Held], of inbox: ClientID, after read: Read) -> (token: UInt64, held: [MessageID: Held]) {
        state.withLock { state in
            let token = state.nextToken
            state.nextToken &+= 1
            var free = held
            if let marked = state.marked[inbox] {
                free = held.filter { !marked.contains($0.value.rowID) }
            }
            if !free.isEmpty {
                state.marked[inbox, default: []].formUnion(free.values.lazy.map(\.rowID))
                state.claims[token] = Claim(inbox: inbox, held: free)
            }
            state.reads[read.number] = nil
            state.purgeRetired()
            return (token, free)
        }
    }

    /// The message `id` when claim `token` holds it.
    func held(_ id: MessageID, by token: UInt64) -> Held? {
        state.withLock { $0.claims[token]?.held[id] }
    }

    /// Whether claim `token` is open (holds messages).
    func isOpen(_ token: UInt64) -> Bool {
        state.withLock { $0.claims[token] != nil }
    }

    /// Everything claim `token` holds; empty for an unknown token.
    func all(of token: UInt64) -> [Held] {
        state.withLock { state in state.claims[token].map { Array($0.held.values) } ?? [] }
    }

    /// Forgets claim `token`, whose rows still exist: they are claimable again at once.
    func release(_ token: UInt64) {
        state.withLock { state in
            guard let claim = state.claims.removeValue(forKey: token) else { return }
            state.unmark(claim.held.values.lazy.map(\.rowID), in: claim.inbox)
        }
    }

    /// Forgets claim `token`, whose rows were deleted (the delete has committed). Its rows
    /// stay marked while a read that began before now is in progress.
    func acknowledged(_ token: UInt64) {
        state.withLock { state in
            guard let claim = state.claims.removeValue(forKey: token) else { return }
            state.generation &+= 1
            let rows = claim.held.values.map(\.rowID)
            if state.reads.isEmpty {
                state.unmark(rows, in: claim.inbox)
            } else {
                state.retired.append(Retired(generation: state.generation, inbox: claim.inbox, rows: rows))
            }
        }
    }

    /// How many claims are open, for tests.
    var openClaims: Int { state.withLock { $0.claims.count } }

    /// How many rows are marked, held or retired, for tests.
    var markedRows: Int { state.withLock { $0.marked.values.reduce(0) { $0 + $1.count } } }
}
