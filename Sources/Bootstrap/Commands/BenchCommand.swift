import ArgumentParser
import Bench

/// `sealpost bench`: a load generator for any seed-protocol server, running the same
/// workload as the shared loadgen (register, send texts, drain and verify, optional file).
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure a seed-protocol server: req/s and latency per operation, delivery verified.",
        discussion: """
            Registers --clients clients, has --workers threads send --body-byte text messages \
            (type 3, one request per connection) for --seconds, then drains every inbox and \
            checks each message. With --file-mib M it also sends one M MiB file message and pulls \
            it back, streamed both ways, its digest checked. Exits 1 if anything was lost, \
            duplicated, corrupted or failed.
            """
    )

    @Option(name: .long, help: "The server, HOST:PORT.")
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

    func validate() throws {
        guard clients >= 2 else { throw ValidationError("--clients must be at least 2") }
        guard workers >= 1 else { throw ValidationError("--workers must be at least 1") }
        guard seconds > 0 else { throw ValidationError("--seconds must be positive") }
        guard (0...65_000).contains(body) else { throw ValidationError("--body must be 0...65000") }
        guard (0...1024).contains(fileMib) else { throw ValidationError("--file-mib must be 0...1024") }
        if let cryptoMib, cryptoMib < 1 { throw ValidationError("--crypto-mib must be positive") }
    }

    func run() throws {
        let run = BenchRun(
            addr: addr, clients: clients, workers: workers, seconds: seconds, body: body,
            fileMib: fileMib, serverPid: serverPid, version: version, cryptoMib: cryptoMib)
        if try !run.run() { throw ExitCode(1) }
    }
}
