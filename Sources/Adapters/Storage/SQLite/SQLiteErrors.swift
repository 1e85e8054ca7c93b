import Application
import Domain
import GRDB

/// Turns database failures into the errors the ports speak.
enum SQLiteErrors {
    /// A database error as `StoreError.unavailable`, with SQLite's text.
    static func unavailable(_ error: DatabaseError) -> StoreError {
        StoreError.unavailable("SQLite \(error.extendedResultCode): \(error.message ?? "no message")")
    }

    /// Runs `body`, passing port errors and cancellation through and turning anything else
    /// into `StoreError.unavailable`.
    static func mapping<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as StoreError {
            throw error
        } catch let error as DomainError {
            throw error
        } catch let error as AccountStoreError {
            throw error
        } catch let error as AttachmentStoreError {
            throw error
        } catch let error as CancellationError {
            throw error
        } catch let error as DatabaseError {
            throw unavailable(error)
        } catch {
            throw StoreError.unavailable("\(error)")
        }
    }
}
