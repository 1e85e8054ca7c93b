import Application

extension PostgresError {
    /// How the failure crosses a port: the store is unavailable, with the reason.
    var storeError: StoreError { .unavailable(description) }
}

/// Runs `body`, turning a `PostgresError` into `StoreError.unavailable`; other errors
/// (domain and store errors already mapped, cancellation) pass through.
func mappingPostgresErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as PostgresError {
        throw error.storeError
    }
}
