import Domain
import FuzzDriver
import NIOCore
import SeedWire

// libFuzzer target for `SeedRequestDecoder`, driven the way the server's `SocketConnection`
// drives it: each read appended to what is left of the last, `decode` called until it
// yields nothing, the rest kept; at end of input `decodeLast(seenEOF: true)`.
//
// Input layout: byte 0 chooses the decoder's limits and seeds the piece sizes; the rest is
// what the peer sends. Seed corpus files are requests with a 0x00 byte in front.
//
// Invariants checked on every input (a violation traps, which libFuzzer reports):
// - the decoder never yields more bytes than it was given;
// - a `.complete` or a `.sendHead` comes first and nothing follows a `.complete`;
// - streamed pieces follow a `.sendHead`, never exceed its declared content size, and
//   exactly the piece that reaches the size is flagged last;
// - whole payloads have exactly their declared sizes;
// - only `SeedDecodeError` is ever thrown, and after one nothing more is decoded.
// Allocations of a claimed size are caught by running with `-malloc_limit_mb`.

/// The limits the fuzzer picks from: the server's defaults, and small ones that push
/// ordinary sizes into the streaming path and past the maximum.
private let limits: [(maxPayload: UInt32, inline: UInt32)] = [
    (1 << 30, 64 * 1024),
    (1 << 30, 0),
    (300, 21),
    (64, 16),
]

/// This program's `main` (see `runLibFuzzer`).
@_cdecl("RequestDecoderFuzzer_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runLibFuzzer(argc: argc, argv: argv, testOneInput: { data, size in fuzzRequestDecoder(data, size) })
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequestDecoder(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let control = data[0]
    let input = UnsafeBufferPointer(start: data + 1, count: size - 1)
    let limit = limits[Int(control & 3)]
    var pieceSeed = UInt64(control >> 2) &+ 0x9E37_79B9_7F4A_7C15

    var decoder = SeedRequestDecoder(maxPayload: limit.maxPayload, inlineLimit: limit.inline)
    var checker = PartChecker(inputSize: input.count)
    var pending: ByteBuffer?

    var offset = 0
    var failed = false
    while offset < input.count, !failed {
        // Piece sizes 1...64, or occasionally everything left.
        pieceSeed = pieceSeed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        let roll = Int(truncatingIfNeeded: pieceSeed >> 33)
        let length = roll % 8 == 0 ? input.count - offset : min(1 + roll % 64, input.count - offset)
        var buffer = pending ?? ByteBuffer()
        buffer.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(input)[offset..<offset + length]))
        offset += length
        pending = nil
        do {
            while let part = try decoder.decode(buffer: &buffer) {
                checker.check(part)
            }
        } catch {
            checker.expectDecodeError(error)
            failed = true
        }
        if buffer.readableBytes > 0 { pending = buffer }
    }
    // End of input: the peer closed its side.
    if !failed {
        var buffer = pending ?? ByteBuffer()
        do {
            while let part = try decoder.decodeLast(buffer: &buffer, seenEOF: true) {
                checker.check(part)
            }
        } catch {
            checker.expectDecodeError(error)
        }
    }
    return 0
}

/// Follows the parts the decoder yields and traps on any broken invariant.
struct PartChecker {
    let inputSize: Int
    var yieldedBytes = 0
    var sawComplete = false
    var streaming: (declared: UInt64, received: UInt64)?
    var streamEnded = false

    init(inputSize: Int) {
        self.inputSize = inputSize
    }

    mutating func check(_ part: SeedRequestPart) {
        precondition(!sawComplete, "a part after a complete request")
        precondition(!streamEnded, "a part after the last content piece")
        switch part {
        case .complete(let request):
            precondition(streaming == nil, "a complete request in the middle of a stream")
            sawComplete = true
            yieldedBytes += 22 + Int(request.header.payloadSize)
            switch request {
            case .register(let header, let name, let key):
                precondition(header.payloadSize == 415 && name.readableBytes == 255 && key.readableBytes == 160)
            case .listClients(let header), .pull(let header):
                precondition(header.payloadSize == 0)
            case .publicKey(let header, _):
                precondition(header.payloadSize == 16)
            case .send(let header, let message, let content):
                precondition(UInt64(header.payloadSize) == 21 + UInt64(message.contentSize))
                precondition(content.readableBytes == Int(message.contentSize), "inline content differs from its declared size")
            }
        case .sendHead(let header, let message):
            precondition(streaming == nil, "a second send head")
            precondition(UInt64(header.payloadSize) == 21 + UInt64(message.contentSize))
            precondition(message.contentSize > 0, "an empty content announced as a stream")
            streaming = (UInt64(message.contentSize), 0)
            yieldedBytes += 22 + 21
        case .content(let piece, let isLast):
            guard var stream = streaming else { preconditionFailure("content without a send head") }
            stream.received += UInt64(piece.readableBytes)
            precondition(stream.received <= stream.declared, "more content bytes than declared")
            precondition(isLast == (stream.received == stream.declared), "isLast does not match the declared size")
            streaming = stream
            streamEnded = isLast
            yieldedBytes += piece.readableBytes
        }
        precondition(yieldedBytes <= inputSize, "the decoder yielded more bytes than it was given")
    }

    func expectDecodeError(_ error: any Error) {
        switch error {
        case is SeedDecodeError:
            return
        default:
            preconditionFailure("unexpected error type: \(error)")
        }
    }
}
