/// A statement parameter, sent in PostgreSQL's binary format.
///
/// Binary parameters spare the server from parsing text and let `bytea` travel unescaped.
enum PostgresBind: Sendable {
    case null
    case int16(Int16)
    case int32(Int32)
    case int64(Int64)
    case float64(Double)
    case text(String)
    case bytes([UInt8])
    /// A one-dimensional array of `bytea`.
    case bytesArray([[UInt8]])
    /// A one-dimensional array of `int8`.
    case int64Array([Int64])
    /// A one-dimensional array of `int2`.
    case int16Array([Int16])
    /// A one-dimensional array of `float8`.
    case float64Array([Double])

    /// Type OIDs from `pg_type.dat`.
    enum OID {
        static let bytea: UInt32 = 17
        static let int8: UInt32 = 20
        static let int2: UInt32 = 21
        static let int4: UInt32 = 23
        static let text: UInt32 = 25
        static let float8: UInt32 = 701
        static let byteaArray: UInt32 = 1001
        static let int2Array: UInt32 = 1005
        static let int8Array: UInt32 = 1016
        static let float8Array: UInt32 = 1022
    }

    /// The parameter's type; 0 lets the server infer it from the statement.
    var oid: UInt32 {
        switch self {
        case .null: 0
        case .int16: OID.int2
        case .int32: OID.int4
        case .int64: OID.int8
        case .float64: OID.float8
        case .text: OID.text
        case .bytes: OID.bytea
        case .bytesArray: OID.byteaArray
        case .int64Array: OID.int8Array
        case .int16Array: OID.int2Array
        case .float64Array: OID.float8Array
        }
    }

    /// The binary encoding, or `nil` for SQL NULL.
    var encoded: [UInt8]? {
        switch self {
        case .null: nil
        case .int16(let value): Self.bigEndian(value)
        case .int32(let value): Self.bigEndian(value)
        case .int64(let value): Self.bigEndian(value)
        case .float64(let value): Self.bigEndian(value.bitPattern)
        case .text(let value): Array(value.utf8)
        case .bytes(let value): value
        case .bytesArray(let values): Self.array(of: OID.bytea, values)
        case .int64Array(let values): Self.array(of: OID.int8, values.map { Self.bigEndian($0) })
        case .int16Array(let values): Self.array(of: OID.int2, values.map { Self.bigEndian($0) })
        case .float64Array(let values): Self.array(of: OID.float8, values.map { Self.bigEndian($0.bitPattern) })
        }
    }

    static func bigEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.bigEndian) { Array($0) }
    }

    /// The binary array format (`array_send`): dimensions, null flag, element type, then
    /// each element as a length and its bytes. An empty array has zero dimensions.
    private static func array(of elementOID: UInt32, _ elements: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(20 + elements.reduce(0) { $0 + 4 + $1.count })
        out += bigEndian(Int32(elements.isEmpty ? 0 : 1))
        out += bigEndian(Int32(0))
        out += bigEndian(elementOID)
        guard !elements.isEmpty else { return out }
        out += bigEndian(Int32(elements.count))
        out += bigEndian(Int32(1))
        for element in elements {
            out += bigEndian(Int32(element.count))
            out += element
        }
        return out
    }
}
