/// The message ids a client has shown most recently, at most `capacity` of them, oldest
/// forgotten first: enough to drop a redelivery (docs/protocol-v3.md §6.2) without growing
/// for ever. Each id remembers whether the client asked to acknowledge it.
struct RecentMessageIDs: Sendable {
    let capacity: Int
    private var order: [UInt64] = []
    private var head = 0
    private var acknowledged: [UInt64: Bool] = [:]

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// Records `id` as shown. Returns false when it was shown already (then it is not recorded
    /// again).
    mutating func insert(_ id: UInt64) -> Bool {
        guard acknowledged[id] == nil else { return false }
        if order.count < capacity {
            order.append(id)
        } else {
            acknowledged[order[head]] = nil
            order[head] = id
            head = (head + 1) % capacity
        }
        acknowledged[id] = false
        return true
    }

    func contains(_ id: UInt64) -> Bool { acknowledged[id] != nil }

    /// Whether the client asked to acknowledge `id` (a redelivery of it is acknowledged again).
    func isAcknowledged(_ id: UInt64) -> Bool { acknowledged[id] == true }

    /// Notes that the client asked to acknowledge `id`, when it is remembered.
    mutating func markAcknowledged(_ id: UInt64) {
        if acknowledged[id] != nil { acknowledged[id] = true }
    }

    var count: Int { acknowledged.count }
}
