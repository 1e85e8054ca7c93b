/// A failure reported by libpq or by the server, with what is needed to map it.
///
/// Stays inside the adapter: the stores translate it to `StoreError` or `DomainError`
/// before it crosses a port.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, in broad strokes.
    public enum Kind: Sendable, Equatable {
        /// The connection could not be made or was lost.
        case connection
        /// The server refused a statement; see `sqlState`.
        case statement
        /// The server answered something this adapter does not understand.
        case protocolViolation
        /// The pool or its threads are shut down.
        case shutDown
    }

    /// The broad kind of the failure.
    public let kind: Kind
    /// The five-character SQLSTATE, when the server sent one (`23505` is unique_violation).
    public let sqlState: String?
    /// The violated constraint, when the server named one.
    public let constraint: String?
    /// The server's or libpq's primary message.
    public let message: String

    init(_ kind: Kind, sqlState: String? = nil, constraint: String? = nil, message: String) {
        self.kind = kind
        self.sqlState = sqlState
        self.constraint = constraint
        self.message = message
    }

    /// SQLSTATE 23505: a unique index refused a row.
    public var isUniqueViolation: Bool { sqlState == "23505" }

    public var description: String {
        var text = "PostgreSQL \(kind)"
        if let sqlState { text += " [\(sqlState)]" }
        if let constraint { text += " (constraint \(constraint))" }
        return text + ": " + message
    }
}
