extension PostgresConnection {
    /// Runs `body` between BEGIN and COMMIT, and rolls back when it throws. Blocking.
    func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            if isUsable { _ = try? execute("ROLLBACK") }
            throw error
        }
    }
}
