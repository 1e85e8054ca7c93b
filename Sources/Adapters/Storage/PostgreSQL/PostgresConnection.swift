import CLibPQ

/// One libpq connection (`PGconn`). Every method blocks the calling thread.
///
/// `@unchecked Sendable` because `PGconn` is not thread-safe and `OpaquePointer` is not
/// `Sendable`: the pool hands a connection to exactly one holder at a time (a checkout,
/// guarded by the pool's `Mutex`), and that holder only touches it from inside
/// `PostgresConnectionPool.run(on:_:)`, one closure at a time on a pool thread. The
/// checkout/checkin through the `Mutex` orders those uses, so no two threads ever touch the
/// handle concurrently.
final class PostgresConnection: @unchecked Sendable {
    /// For log messages.
    let number: Int
    private let conninfo: String
    /// Session settings applied after every (re)connect, such as `SET search_path`.
    private let setup: [String]
    private var handle: OpaquePointer?
    /// Statements prepared on the current session, by name.
    private var prepared: Set<String> = []

    init(number: Int, conninfo: String, setup: [String]) {
        self.number = number
        self.conninfo = conninfo
        self.setup = setup
    }

    deinit {
        close()
    }

    /// Connects and applies the session settings.
    func open() throws {
        close()
        guard let connection = PQconnectdb(conninfo) else {
            throw PostgresError(.connection, message: "libpq could not allocate a connection")
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = Self.text(PQerrorMessage(connection))
            PQfinish(connection)
            throw PostgresError(.connection, message: message)
        }
        handle = connection
        prepared = []
        for statement in setup {
            _ = try execute(statement)
        }
    }

    /// Closes the connection; safe when already closed.
    func close() {
        if let handle {
            PQfinish(handle)
            self.handle = nil
        }
    }

    /// Whether the connection is open and healthy.
    var isUsable: Bool {
        guard let handle else { return false }
        return PQstatus(handle) == CONNECTION_OK
    }

    /// Reads whatever the server sent while the connection sat idle and reports whether it
    /// is still healthy. Catches a backend that was terminated or a server that restarted
    /// before a statement is sent. Does not block: libpq keeps its socket non-blocking.
    func probe() -> Bool {
        guard let handle else { return false }
        // Twice: a terminated backend first sends its FATAL message, and libpq only meets
        // the end of the stream on the read after the one that returned those bytes.
        return PQconsumeInput(handle) == 1 && PQconsumeInput(handle) == 1 && PQstatus(handle) == CONNECTION_OK
    }

    /// Whether a transaction is open (or failed and awaiting ROLLBACK).
    var isInTransaction: Bool {
        guard let handle else { return false }
        return PQtransactionStatus(handle) != PQTRANS_IDLE
    }

    /// Runs one statement with binary parameters and binary results (`PQexecParams`).
    ///
    /// - Throws: `PostgresError` with the server's SQLSTATE and constraint name, if any.
    @discardableResult
    func execute(_ sql: String, _ binds: [PostgresBind] = []) throws -> PostgresRows {
        try run(sql, binds, preparedAs: nil)
    }

    /// Runs a statement prepared once per session under `name` (`PQprepare`, then
    /// `PQexecPrepared`): the server parses and plans it once, not on every call. For the
    /// statements of the hot path.
    @discardableResult
    func execute(prepared name: String, _ sql: String, _ binds: [PostgresBind] = []) throws -> PostgresRows {
        try run(sql, binds, preparedAs: name)
    }

    private func run(_ sql: String, _ binds: [PostgresBind], preparedAs name: String?) throws -> PostgresRows {
        guard let handle else { throw PostgresError(.connection, message: "connection \(number) is closed") }
        if let name, !prepared.contains(name) {
            let types = binds.map(\.oid)
            guard let result = PQprepare(handle, name, sql, Int32(types.count), types) else {
                throw PostgresError(.connection, message: Self.text(PQerrorMessage(handle)))
            }
            defer { PQclear(result) }
            guard PQresultStatus(result) == PGRES_COMMAND_OK else { throw error(from: result) }
            prepared.insert(name)
        }
        let encoded = binds.map(\.encoded)
        let types = binds.map(\.oid)
        let lengths = encoded.map { Int32($0?.count ?? 0) }
        let formats = [Int32](repeating: 1, count: binds.count)
        // libpq reads the values in place: no copy of a (possibly large) bytea is made here.
        var spare: UInt8 = 0
        let result = withUnsafePointer(to: &spare) { spare in
            var values: [UnsafePointer<CChar>?] = []
            values.reserveCapacity(encoded.count)
            return Self.withValuePointers(encoded[...], spare: UnsafeRawPointer(spare), into: &values) { values in
                if let name {
                    PQexecPrepared(handle, name, Int32(binds.count), values, lengths, formats, 1)
                } else {
                    PQexecParams(handle, sql, Int32(binds.count), types, values, lengths, formats, 1)
                }
            }
        }
        guard let result else {
            throw PostgresError(.connection, message: Self.text(PQerrorMessage(handle)))
        }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else {
            throw error(from: result)
        }
        return Self.rows(of: result)
    }

    /// Calls `body` with the address of every value, borrowing each value's storage in a
    /// nested scope so that all addresses stay valid during `body`. A `nil` value gets a NULL
    /// address (SQL NULL); an empty one gets `spare`, since NULL would mean SQL NULL.
    private static func withValuePointers<R>(
        _ rest: ArraySlice<[UInt8]?>, spare: UnsafeRawPointer, into values: inout [UnsafePointer<CChar>?],
        _ body: ([UnsafePointer<CChar>?]) -> R
    ) -> R {
        guard let first = rest.first else { return body(values) }
        guard let value = first else {
            values.append(nil)
            return withValuePointers(rest.dropFirst(), spare: spare, into: &values, body)
        }
        return value.withUnsafeBytes { bytes in
            values.append((bytes.baseAddress ?? spare).assumingMemoryBound(to: CChar.self))
            return withValuePointers(rest.dropFirst(), spare: spare, into: &values, body)
        }
    }

    private func error(from result: OpaquePointer) -> PostgresError {
        func field(_ code: Character) -> String? {
            guard let value = PQresultErrorField(result, Int32(code.asciiValue!)) else { return nil }
            return String(cString: value)
        }
        let sqlState = field("C")
        let message = field("M") ?? Self.text(PQresultErrorMessage(result))
        if sqlState == nil && !isUsable {
            return PostgresError(.connection, message: Self.text(PQerrorMessage(handle)))
        }
        return PostgresError(.statement, sqlState: sqlState, constraint: field("n"), message: message)
    }

    private static func rows(of result: OpaquePointer) -> PostgresRows {
        let count = Int(PQntuples(result))
        let columns = Int(PQnfields(result))
        var cells: [[UInt8]?] = []
        cells.reserveCapacity(count * columns)
        for row in 0..<Int32(count) {
            for column in 0..<Int32(columns) {
                if PQgetisnull(result, row, column) != 0 {
                    cells.append(nil)
                } else {
                    let length = Int(PQgetlength(result, row, column))
                    let start = UnsafeRawPointer(PQgetvalue(result, row, column)!)
                    cells.append(Array(UnsafeRawBufferPointer(start: start, count: length)))
                }
            }
        }
        let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
        return PostgresRows(cells: cells, columnCount: columns, count: count, affected: affected)
    }

    private static func text(_ pointer: UnsafePointer<CChar>?) -> String {
        guard let pointer else { return "unknown libpq error" }
        var text = String(cString: pointer)
        while text.last?.isWhitespace == true { text.removeLast() }
        return text
    }
}
