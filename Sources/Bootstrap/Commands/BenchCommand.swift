import Adapters
import ArgumentParser
import Bench
import Foundation

/// `sealpost bench`: a load generator. With protocol v2 (the default) it runs the same
/// workload as the shared loadgen (register, send texts, drain and verify, optional file);
/// with `--protocol v3` or `--protocol mqtt`, the push workload over persistent TLS sessions.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure a server: req/s and latency per operation, delivery verified.",
        discussion: """
            --protocol v2 (the default): registers --clients clients, has --workers threads send \
            --body-byte text messages (type 3, one request per connection) for --seconds, then \
            drains every inbox and checks each message. With --file-mib M it also sends one M MiB \
            file message and pulls it back, streamed both ways, its digest checked.

            --protocol v3: --sessions persistent TLS sessions on a Sealpost server's secure port \
            (--addr, its key pinned with --server-fingerprint) each register an account, then \
            send --payload-byte envelopes to random others for --seconds, at most --window SENDs \
            unanswered, while acknowledging the DELIVERY frames pushed to them. --protocol mqtt: \
            the same workload on an MQTT 3.1.1 broker over TLS (--ca-file), at QoS 1 with \
            persistent sessions. Both print accepted/s, delivered/s, send→push latency, and with \
            --server-pid the server's CPU per message and peak RSS.

            --client-crypto: no server; the v3 client's cryptography on one core: --payload-byte \
            texts sealed into signed envelopes and opened, X3DH handshakes on both sides, each for \
            --seconds, and the attachments' STREAM encrypting and decrypting --attachment-mib MiB.

            Exits 1 if anything was lost, duplicated, corrupted or failed.
            """
    )

    enum BenchProtocol: String, ExpressibleByArgument, CaseIterable {
        case v2, v3, mqtt
    }

    @Option(name: .long, help: "The workload: v2 (seed protocol), v3 (push, TLS), mqtt (the same push workload on an MQTT broker).")
    var `protocol` = BenchProtocol.v2

    @Option(name: .long, help: "The server, HOST:PORT (v3: the secure port).")
    var addr = "127.0.0.1:1234"

    @Option(name: .long, help: "Clients to register.")
    var clients = 100

    @Option(name: .long, help: "Concurrent sending threads.")
    var workers = 8

    @Option(name: .long, help: "How long to send, in seconds.")
    var seconds = 5.0

    @Option(name: .long, help: "Text message content size in bytes (at least 16).")
    var body = 100

    @Option(name: .long, help: "Also send and pull one file message of this many MiB (0: none).")
    var fileMib = 0

    @Option(name: .long, help: "The server's process id, to report its peak RSS.")
    var serverPid: Int32?

    @Option(name: .long, help: "The protocol version byte to send.")
    var version: UInt8 = 2

    @Option(name: .long, help: .hidden)
    var cryptoMib: Int?

    @Option(name: .long, help: "v3, mqtt: persistent sessions.")
    var sessions = 100

    @Option(name: .long, help: "v3, mqtt: unanswered sends per session at most.")
    var window = 16

    @Option(name: .long, help: "v3, mqtt: message payload size in bytes (at least \(PushBenchRun.minimumPayload)).")
    var payload = 100

    @Option(name: .long, help: "v3: delivery ids per ACK at most (an ACK also goes when a read ends).")
    var ackBatch = 32

    @Option(name: .long, help: "v3: with fewer than --ack-batch ids pending when a read ends, wait this many µs for more (0: ACK at once).")
    var ackDelayUs = 0

    @Option(name: .long, help: "v3: the server's fingerprint (64 hex digits; `sealpost server-fingerprint`).")
    var serverFingerprint: String?

    @Option(name: .long, help: "mqtt: the CA (PEM) the broker's certificate must chain to.")
    var caFile: String?

    @Flag(name: .long, help: "Measure the v3 client's cryptography on one core instead (no server).")
    var clientCrypto = false

    @Option(name: .long, help: "--client-crypto: the attachment stream's size in MiB, each way.")
    var attachmentMib = 1024

    @Option(name: .long, help: "v3, mqtt: client event loop threads (default: one per core).")
    var threads: Int?

    func validate() throws {
        guard clients >= 2 else { throw ValidationError("--clients must be at least 2") }
        guard workers >= 1 else { throw ValidationError("--workers must be at least 1") }
        guard seconds > 0 else { throw ValidationError("--seconds must be positive") }
        guard (0...65_000).contains(body) else { throw ValidationError("--body must be 0...65000") }
        guard (0...1024).contains(fileMib) else { throw ValidationError("--file-mib must be 0...1024") }
        if let cryptoMib, cryptoMib < 1 { throw ValidationError("--crypto-mib must be positive") }
        guard sessions >= 2 else { throw ValidationError("--sessions must be at least 2") }
        guard (1...1024).contains(window) else { throw ValidationError("--window must be 1...1024") }
        guard (PushBenchRun.minimumPayload...65_536).contains(payload) else {
            throw ValidationError("--payload must be \(PushBenchRun.minimumPayload)...65536")
        }
        guard (1...256).contains(ackBatch) else { throw ValidationError("--ack-batch must be 1...256") }
        if let threads, threads < 1 { throw ValidationError("--threads must be positive") }
        guard (0...1_000_000).contains(ackDelayUs) else { throw ValidationError("--ack-delay-us must be 0...1000000") }
        guard (1...65_536).contains(attachmentMib) else { throw ValidationError("--attachment-mib must be 1...65536") }
        if clientCrypto { return }
        if `protocol` == .v3, serverFingerprint.flatMap(ServerFingerprint.init(hex:)) == nil {
            throw ValidationError("--protocol v3 needs --server-fingerprint with 64 hex digits")
        }
        if `protocol` == .mqtt, caFile == nil { throw ValidationError("--protocol mqtt needs --ca-file") }
    }

    func run() throws {
        if clientCrypto {
            var bench = ClientCryptoBench(seconds: seconds, attachmentMib: attachmentMib)
            bench.textBytes = payload
            if try !bench.run() { throw ExitCode(1) }
            return
        }
        if `protocol` != .v2 {
            try runPush()
            return
        }
        let run = BenchRun(
            addr: addr, clients: clients, workers: workers, seconds: seconds, body: body,
            fileMib: fileMib, serverPid: serverPid, version: version, cryptoMib: cryptoMib)
        if try !run.run() { throw ExitCode(1) }
    }
}

extension BenchCommand {
    /// `--protocol v3` and `--protocol mqtt`: the push workload.
    func runPush() throws {
        guard let colon = addr.lastIndex(of: ":"), let port = Int(addr[addr.index(after: colon)...]) else {
            throw ValidationError("--addr must be HOST:PORT")
        }
        let host = String(addr[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        let target: PushBenchRun.Target = switch `protocol` {
        case .mqtt: .mqtt(host: host, port: port, caFile: caFile!)
        default: .sealpost(host: host, port: port, fingerprint: ServerFingerprint(hex: serverFingerprint!)!)
        }
        var run = PushBenchRun(
            target: target, sessions: sessions, window: window, seconds: seconds, payload: payload,
            ackBatch: ackBatch, ackDelayMicros: ackDelayUs, serverPid: serverPid)
        if let threads { run.threads = threads }
        if try !run.run() { throw ExitCode(1) }
    }
}
