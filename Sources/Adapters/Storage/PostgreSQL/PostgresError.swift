/// A failure reported by libpq or by the server, with what is needed to map it.
///
/// Internal: the stores translate it to `StoreError` or `DomainError`
/// before it crosses a port.
struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, in broad strokes.
    enum Kind: Sendable, Equatable {
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
    let kind: Kind
    /// The five-character SQLSTATE, when the server sent one (`23505` is unique_violation).
    let sqlState: String?
    /// The violated constraint, when the server named one.
    let constraint: String?
    /// The server's or libpq's primary message.
    let message: String

    init(_ kind: Kind, sqlState: String? = nil, constraint: String? = nil, message: String) {
        self.kind = kind
        self.sqlState = sqlState
        self.constraint = constraint
        self.message = message
    }

    /// SQLSTATE 23505: a unique index refused a row.
    var isUniqueViolation: Bool { sqlState == "23505" }

    var description: String {
        var text = "PostgreSQL \(kind)"
        if let sqlState { text += " [\(sqlState)]" }
        if let constraint { text += " (constraint \(constraint))" }
        return text + ": " + message
    }
}
