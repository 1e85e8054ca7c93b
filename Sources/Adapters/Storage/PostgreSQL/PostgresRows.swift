/// The rows a statement returned, copied out of the `PGresult` in binary format.
///
/// Decoding is by the column's binary representation, so each accessor names the SQL type
/// it expects.
struct PostgresRows: Sendable {
    /// Cells row by row; `nil` is SQL NULL.
    private let cells: [[UInt8]?]
    /// Columns per row.
    let columnCount: Int
    /// Rows returned.
    let count: Int
    /// Rows inserted, updated or deleted, from the command tag (0 when there is none).
    let affected: Int

    init(cells: [[UInt8]?], columnCount: Int, count: Int, affected: Int) {
        self.cells = cells
        self.columnCount = columnCount
        self.count = count
        self.affected = affected
    }

    /// The raw cell, `nil` for NULL.
    func raw(_ row: Int, _ column: Int) -> [UInt8]? {
        cells[row * columnCount + column]
    }

    /// Whether the cell is NULL.
    func isNull(_ row: Int, _ column: Int) -> Bool {
        raw(row, column) == nil
    }

    /// A `smallint`, `integer` or `bigint` cell.
    func int(_ row: Int, _ column: Int) throws -> Int64 {
        let bytes = try value(row, column)
        switch bytes.count {
        case 2: return Int64(Int16(bitPattern: UInt16(Self.unsigned(bytes))))
        case 4: return Int64(Int32(bitPattern: UInt32(Self.unsigned(bytes))))
        case 8: return Int64(bitPattern: Self.unsigned(bytes))
        default: throw Self.mismatch("an integer", row, column, bytes.count)
        }
    }

    /// A `double precision` cell.
    func double(_ row: Int, _ column: Int) throws -> Double {
        let bytes = try value(row, column)
        guard bytes.count == 8 else { throw Self.mismatch("a float8", row, column, bytes.count) }
        return Double(bitPattern: Self.unsigned(bytes))
    }

    /// A `bytea` cell.
    func bytes(_ row: Int, _ column: Int) throws -> [UInt8] {
        try value(row, column)
    }

    /// A `text` cell.
    func text(_ row: Int, _ column: Int) throws -> String {
        let bytes = try value(row, column)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw PostgresError(.protocolViolation, message: "row \(row) column \(column) is not UTF-8 text")
        }
        return text
    }

    private func value(_ row: Int, _ column: Int) throws -> [UInt8] {
        guard row < count, column < columnCount else {
            throw PostgresError(.protocolViolation, message: "no cell at row \(row) column \(column) in \(count)×\(columnCount)")
        }
        guard let bytes = raw(row, column) else {
            throw PostgresError(.protocolViolation, message: "row \(row) column \(column) is NULL")
        }
        return bytes
    }

    private static func unsigned(_ bytes: [UInt8]) -> UInt64 {
        bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    private static func mismatch(_ expected: String, _ row: Int, _ column: Int, _ length: Int) -> PostgresError {
        PostgresError(.protocolViolation, message: "row \(row) column \(column) is not \(expected) (\(length) bytes)")
    }
}
