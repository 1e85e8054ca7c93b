/// Hex helpers for fixtures.
enum Hex {
    static func decode(_ text: String) -> [UInt8] {
        let chars = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        var index = 0
        while index + 1 < chars.count {
            out.append(nibble(chars[index]) << 4 | nibble(chars[index + 1]))
            index += 2
        }
        return out
    }

    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    private static func nibble(_ c: UInt8) -> UInt8 {
        switch c {
        case 48...57: c - 48
        case 97...102: c - 87
        case 65...70: c - 55
        default: 0
        }
    }
}
