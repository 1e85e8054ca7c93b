import Domain
import FuzzDriver
import NIOCore
import SealpostWire

// libFuzzer target for the protocol v3 codec (docs/protocol-v3.md): `V3FrameDecoder` fed in
// pieces, as a TLS stream hands them over, and every frame decoded the way its receiver does:
// as a request (the server's side) or as a server message and RESULT body (the client's).
//
// Input layout: byte 0 chooses the side, the frame limit and seeds the piece sizes; the rest
// is what the peer sends. Seed corpus files are the vectors' frames with a control byte in
// front.
//
// Invariants checked on every input (a violation traps, which libFuzzer reports):
// - the decoder never yields more bytes than it was given, nor a frame over its limit;
// - only `V3WireError` or `AccountError` is ever thrown;
// - decoding is exact: whatever decodes encodes back to the very bytes it came from (bodies
//   have exactly their fields, so there is one encoding of each value);
// - a claimed length never becomes an allocation (run with `-malloc_limit_mb`).

private let frameLimits: [UInt32] = [V3Frame.defaultMaxLength, 64, 4096, 300]
private let envelopeLimits: [UInt32] = [65_536, 16, 1024, 0]

/// This program's `main` (see `runLibFuzzer`).
@_cdecl("V3FrameFuzzer_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runLibFuzzer(argc: argc, argv: argv, testOneInput: { data, size in fuzzV3(data, size) })
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzV3(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let control = data[0]
    let input = UnsafeBufferPointer(start: data + 1, count: size - 1)
    let serverSide = control & 1 == 0
    let limit = frameLimits[Int(control >> 1 & 3)]
    let envelopeLimit = envelopeLimits[Int(control >> 3 & 3)]
    var pieceSeed = UInt64(control >> 5) &+ 0x9E37_79B9_7F4A_7C15

    var decoder = V3FrameDecoder(maxLength: limit)
    var pending = ByteBuffer()
    var offset = 0
    var taken = 0
    while offset < input.count {
        pieceSeed = pieceSeed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        let piece = min(input.count - offset, Int(pieceSeed >> 58) + 1)
        pending.writeBytes(UnsafeBufferPointer(rebasing: input[offset..<offset + piece]))
        offset += piece
        do {
            while let frame = try decoder.decode(buffer: &pending) {
                let length = V3Frame.lengthSize + V3Frame.headSize + frame.body.readableBytes
                taken += length
                precondition(taken <= offset, "decoder yielded bytes it was not given")
                precondition(length - V3Frame.lengthSize <= Int(limit), "frame over the limit")
                if serverSide {
                    checkRequest(frame, envelopeLimit: envelopeLimit)
                } else {
                    checkServerMessage(frame, envelopeLimit: envelopeLimit)
                }
            }
        } catch {
            precondition(error is V3WireError, "unexpected error \(error)")
            return 0
        }
    }
    do {
        _ = try decoder.decodeLast(buffer: &pending, seenEOF: true)
    } catch {
        precondition(error is V3WireError, "unexpected error \(error)")
    }
    return 0
}

/// Re-encodes a decoded frame and checks it is the frame it came from.
private func frameBytes(_ frame: V3Frame) -> [UInt8] {
    var buffer = ByteBuffer()
    frame.write(into: &buffer)
    return Array(buffer.readableBytesView)
}

private func checkRequest(_ frame: V3Frame, envelopeLimit: UInt32) {
    do {
        guard let request = try V3Request.decode(type: frame.type, body: frame.body, maxEnvelope: envelopeLimit) else { return }
        var buffer = ByteBuffer()
        request.write(requestID: frame.requestID, into: &buffer)
        precondition(Array(buffer.readableBytesView) == frameBytes(frame), "request does not encode back to its bytes")
    } catch {
        precondition(error is V3WireError || error is AccountError, "unexpected error \(error)")
    }
}

private func checkServerMessage(_ frame: V3Frame, envelopeLimit: UInt32) {
    do {
        let message = try V3ServerMessage.decode(frame, maxEnvelope: envelopeLimit)
        switch message {
        case .ignored, .notice(.unknown):
            // Skipped whole: nothing to encode back.
            return
        case .result(_, let body):
            // A RESULT is read as the answer to a request; the request id picks which.
            let request = V3RequestType.allCases[Int(frame.requestID % UInt32(V3RequestType.allCases.count))]
            if let result = try? V3Result.decode(answering: request, body: body) {
                precondition(Array(result.body().readableBytesView) == Array(body.readableBytesView), "result does not encode back")
            }
        default:
            break
        }
        var buffer = ByteBuffer()
        message.write(into: &buffer)
        precondition(Array(buffer.readableBytesView) == frameBytes(frame), "server message does not encode back to its bytes")
    } catch {
        precondition(error is V3WireError || error is AccountError, "unexpected error \(error)")
    }
}
