import Domain
import FuzzDriver

// libFuzzer target for the end-to-end envelope's byte codec (docs/protocol-v3.md §10.4,
// §10.5): `SealedEnvelope(bytes:)` (which parses the X3DH part and the ratchet header),
// `PrekeyMessagePart(encoded:)` and `MessageContent(padded:)` (with `AttachmentPointer`), the
// parsers a client runs on every DELIVERY's bytes and every decrypted plaintext.
//
// Input layout: byte 0 picks the parser (mod 3: envelope, prekey part, content); the rest is
// the bytes parsed. Seed corpus files are the envelopes of e2e_vectors.json and a few
// hand-made contents.
//
// Invariants checked on every input (a violation traps, which libFuzzer reports):
// - parsing never traps, whatever the bytes (every length is checked);
// - parsing is exact: whatever parses encodes back to the very bytes it came from (each
//   value has one encoding: no slack in lengths, flags or padding);
// - the envelope's signed bytes are its encoding up to the signature, behind the context;
// - a claimed length never becomes an allocation (run with `-malloc_limit_mb`).

/// This program's `main` (see `runLibFuzzer`).
@_cdecl("E2EEnvelopeFuzzer_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runLibFuzzer(argc: argc, argv: argv, testOneInput: { data, size in fuzzEnvelope(data, size) })
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEnvelope(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    switch data[0] % 3 {
    case 0:
        guard let envelope = try? SealedEnvelope(bytes: bytes) else { return 0 }
        precondition(envelope.encoded == bytes, "an envelope does not encode back to its bytes")
        precondition(envelope.kind == (bytes[1] == 1 ? .prekey : .normal), "the kind is not the byte's")
        let context = Array("Sealpost v3 envelope".utf8) + [0]
        precondition(envelope.signedBytes == context + bytes.dropLast(Signature.byteCount), "the signed bytes are not the envelope's")
        precondition(envelope.header.encoded.count == RatchetHeader.byteCount, "a header is not 40 bytes")
    case 1:
        guard let part = try? PrekeyMessagePart(encoded: bytes) else { return 0 }
        precondition(part.encoded == bytes, "a prekey part does not encode back to its bytes")
    default:
        guard let content = try? MessageContent(padded: bytes) else { return 0 }
        precondition(content.padded == bytes, "a content does not encode back to its bytes")
        precondition(bytes.count % MessageContent.paddingBlock == 0, "a content's length is not a multiple of 160")
    }
    return 0
}
