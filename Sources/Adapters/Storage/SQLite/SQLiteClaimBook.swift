import Synchronization
import Domain

/// The claims of one server process, held in memory.
///
/// The store is used by one process, so a claim need not outlive it: after a crash every
/// claim is gone and its messages are waiting again, which is what redelivery wants.
///
/// Claims read their candidates on reader connections, each in a snapshot of its own, while
/// acknowledgements delete rows on the writer. A snapshot taken before a delete committed
/// still shows the deleted rows, so acknowledged rows stay marked here ("retired") until
/// every read that began before the delete has ended: a claim never takes a row that is
/// already gone. A read announces itself with `beginRead()` before it opens its snapshot,
/// and ends with `open(_:after:)` or `endRead(_:)`.
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

    private struct State {
        var nextToken: UInt64 = 1
        /// Row ids held by any claim, and retired rows some read may still see.
        var claimed: Set<Int64> = []
        /// Claims by token, messages by id.
        var claims: [UInt64: [MessageID: Held]] = [:]
        /// Counts acknowledgements; a read remembers the count it began at.
        var generation: UInt64 = 0
        var nextRead: UInt64 = 0
        /// Reads in progress: number → the generation at which each began.
        var reads: [UInt64: UInt64] = [:]
        /// Deleted rows still marked, oldest first, with the generation of their deletion.
        var retired: [(generation: UInt64, rows: [Int64])] = []

        /// Unmarks the retired rows no read in progress can see any more: those deleted at a
        /// generation no read began before.
        mutating func purgeRetired() {
            let oldest = reads.values.min() ?? .max
            var purged = 0
            for batch in retired {
                guard batch.generation <= oldest else { break }
                claimed.subtract(batch.rows)
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

    /// Whether any claim holds the row `rowID`, or it was deleted under a read in progress.
    func isClaimed(_ rowID: Int64) -> Bool {
        state.withLock { $0.claimed.contains(rowID) }
    }

    /// Records a new claim over `held`, the candidates `read` found, skipping rows another
    /// claim took meanwhile; ends the read and returns the token and the rows it got.
    func open(_ held: [MessageID: Held], after read: Read) -> (token: UInt64, held: [MessageID: Held]) {
        state.withLock { state in
            let token = state.nextToken
            state.nextToken &+= 1
            let free = held.filter { !state.claimed.contains($0.value.rowID) }
            state.claimed.formUnion(free.values.map(\.rowID))
            if !free.isEmpty { state.claims[token] = free }
            state.reads[read.number] = nil
            state.purgeRetired()
            return (token, free)
        }
    }

    /// The message `id` when claim `token` holds it.
    func held(_ id: MessageID, by token: UInt64) -> Held? {
        state.withLock { $0.claims[token]?[id] }
    }

    /// Whether claim `token` is open (holds messages).
    func isOpen(_ token: UInt64) -> Bool {
        state.withLock { $0.claims[token] != nil }
    }

    /// Everything claim `token` holds; empty for an unknown token.
    func all(of token: UInt64) -> [Held] {
        state.withLock { state in state.claims[token].map { Array($0.values) } ?? [] }
    }

    /// Forgets claim `token`, whose rows still exist: they are claimable again at once.
    func release(_ token: UInt64) {
        state.withLock { state in
            guard let held = state.claims.removeValue(forKey: token) else { return }
            state.claimed.subtract(held.values.map(\.rowID))
        }
    }

    /// Forgets claim `token`, whose rows were deleted (the delete has committed). Its rows
    /// stay marked while a read that began before now is in progress.
    func acknowledged(_ token: UInt64) {
        state.withLock { state in
            guard let held = state.claims.removeValue(forKey: token) else { return }
            state.generation &+= 1
            let rows = held.values.map(\.rowID)
            if state.reads.isEmpty {
                state.claimed.subtract(rows)
            } else {
                state.retired.append((state.generation, rows))
            }
        }
    }

    /// How many claims are open, for tests.
    var openClaims: Int { state.withLock { $0.claims.count } }

    /// How many rows are marked, held or retired, for tests.
    var markedRows: Int { state.withLock { $0.claimed.count } }
}
