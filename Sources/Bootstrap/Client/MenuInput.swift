#if canImport(Glibc)
import Glibc
#endif

/// The menu's standard input, read as the original client reads it (`cin >> word` for
/// choices and names, `getline(cin >> ws, line)` for texts and paths): what a read leaves
/// on the line stays buffered for the next read, so type-ahead works the same way.
final class MenuInput {
    private var buffer: [UInt8] = []
    private var position = 0
    private var ended = false
    private let fd: Int32

    init(fd: Int32 = STDIN_FILENO) { self.fd = fd }

    /// Skips whitespace (blank lines included, waiting for more input as needed) and tells
    /// whether a word follows; false once input has ended.
    func hasWord() -> Bool {
        skipWhitespace()
        return peek() != nil
    }

    /// Skips whitespace (blank lines included), then reads up to the next whitespace. At
    /// the end of input it returns what it has, possibly "" (as the original does).
    func word() -> String {
        skipWhitespace()
        var out: [UInt8] = []
        while let byte = peek(), !Self.isSpace(byte) {
            out.append(byte)
            position += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Skips whitespace (blank lines included), then reads the rest of the line, inner
    /// spaces kept, without its newline. At the end of input it returns what it has.
    func line() -> String {
        skipWhitespace()
        var out: [UInt8] = []
        while let byte = peek() {
            position += 1
            if byte == UInt8(ascii: "\n") { break }
            out.append(byte)
        }
        if out.last == UInt8(ascii: "\r") { out.removeLast() }
        return String(decoding: out, as: UTF8.self)
    }

    private func skipWhitespace() {
        while let byte = peek(), Self.isSpace(byte) { position += 1 }
    }

    private func peek() -> UInt8? {
        if position >= buffer.count {
            guard !ended else { return nil }
            fill()
            if position >= buffer.count { return nil }
        }
        return buffer[position]
    }

    private func fill() {
        if position > 0 {
            buffer.removeFirst(position)
            position = 0
        }
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                buffer.append(contentsOf: chunk[0..<count])
                return
            }
            if count < 0 && errno == EINTR { continue }
            ended = true
            return
        }
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (0x09...0x0D).contains(byte)
    }

    /// The original's `stoi`: optional sign, then digits, read as a prefix (`2abc` is 2);
    /// nil when there is no digit or the value does not fit in 32 bits.
    static func integerPrefix(_ word: String) -> Int32? {
        var bytes = Substring(word).utf8[...]
        var negative = false
        if let first = bytes.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            negative = first == UInt8(ascii: "-")
            bytes = bytes.dropFirst()
        }
        let digits = bytes.prefix { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
        guard !digits.isEmpty else { return nil }
        var value: Int64 = 0
        for digit in digits {
            value = value * 10 + Int64(digit - UInt8(ascii: "0"))
            if value > Int64(Int32.max) + 1 { return nil }
        }
        if negative { value = -value }
        guard let result = Int32(exactly: value) else { return nil }
        return result
    }
}
