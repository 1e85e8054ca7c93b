import Adapters
import ArgumentParser
import Foundation

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
        if let cryptoMib {
            let (time, output) = try BenchCrypto.run(mebibytes: cryptoMib)
            print("crypto: aes-128-cbc encrypt \(cryptoMib) MiB (1 MiB pieces) in \(benchFormat(time, 2))s = \(benchFormat(Double(cryptoMib) / time, 0)) MiB/s (\(output) bytes out)")
            return
        }
        let address = try BlockingSeedAddress(addr)
        let workload = BenchWorkload(
            address: address, clients: clients, workers: workers, seconds: seconds, bodySize: body, version: version)
        let seed = UInt64(Date().timeIntervalSince1970 * 1e6)
        let tag = String(seed % 0xFFFFFF, radix: 16)

        let (ids, registration) = try workload.register(tag: tag)
        print(registration.line("register"))

        let (sends, sendSeconds) = workload.send(ids: ids, seed: seed)
        let send = BenchLatencies(
            micros: sends.flatMap(\.latencies), errors: sends.reduce(0) { $0 + $1.errors }, seconds: sendSeconds)
        print(send.line("send"))
        for error in sends.compactMap(\.firstError).prefix(3) { print("  send error: \(error)") }

        let (drains, drainSeconds) = workload.drain(ids: ids)
        let pull = BenchLatencies(
            micros: drains.flatMap(\.latencies), errors: drains.reduce(0) { $0 + $1.errors }, seconds: drainSeconds)
        print(pull.line("pull"))
        for error in drains.compactMap(\.firstError).prefix(3) { print("  pull error: \(error)") }

        let verdict = BenchWorkload.verify(sent: sends.map(\.sent), delivered: drains.flatMap(\.delivered))
        print("verify: delivered \(verdict.delivered) lost \(verdict.lost) duplicated \(verdict.duplicated) corrupted \(verdict.corrupted) unacknowledged_but_delivered \(verdict.unacknowledgedDelivered)")

        var fileOK = true
        var fileSummary = ""
        if fileMib > 0 {
            let file = BenchFile(address: address, mebibytes: fileMib, version: version, serverPID: serverPid)
            do {
                let outcome = try file.run(from: ids[0], to: ids[1])
                fileOK = outcome.intact
                let up = Double(fileMib) / outcome.uploadSeconds
                let down = Double(fileMib) / outcome.downloadSeconds
                let rss = { (kib: UInt64?) in kib.map { benchFormat(Double($0) / 1024, 0) } ?? "?" }
                print("file: \(fileMib) MiB up \(benchFormat(outcome.uploadSeconds, 2))s (\(benchFormat(up, 0)) MiB/s) down \(benchFormat(outcome.downloadSeconds, 2))s (\(benchFormat(down, 0)) MiB/s) intact \(outcome.intact) server_peak_rss_mib after_up \(rss(outcome.peakRSSAfterUploadKiB)) end \(rss(outcome.peakRSSKiB)) (\(outcome.detail))")
                fileSummary = " file_up_mibs \(benchFormat(up, 0)) file_down_mibs \(benchFormat(down, 0)) server_peak_rss_mib \(rss(outcome.peakRSSKiB))"
            } catch {
                fileOK = false
                print("file: failed: \(error)")
            }
        } else if let serverPid {
            print("server_peak_rss_mib \(benchPeakRSSKiB(pid: serverPid).map { benchFormat(Double($0) / 1024, 0) } ?? "?")")
        }

        let errors = send.errors + pull.errors
        let ok = errors == 0 && verdict.lost == 0 && verdict.duplicated == 0 && verdict.corrupted == 0 && fileOK
        print("summary: send_rps \(benchFormat(send.rate, 0)) fetch_rps \(benchFormat(pull.rate, 0)) send_p99_ms \(benchFormat(send.p99Millis, 2)) lost \(verdict.lost) duplicated \(verdict.duplicated) corrupted \(verdict.corrupted) errors \(errors)\(fileSummary) ok \(ok)")
        if !ok { throw ExitCode(1) }
    }
}
