import Adapters
import Foundation

/// One `sealpost bench` run: the same workload as the shared loadgen (register, send texts,
/// drain and verify, optional file), printed as lines of figures.
public struct BenchRun: Sendable {
    public var addr: String
    public var clients: Int
    public var workers: Int
    public var seconds: Double
    public var body: Int
    public var fileMib: Int
    public var serverPid: Int32?
    public var version: UInt8
    public var cryptoMib: Int?

    public init(addr: String, clients: Int, workers: Int, seconds: Double, body: Int, fileMib: Int, serverPid: Int32?, version: UInt8, cryptoMib: Int?) {
        self.addr = addr
        self.clients = clients
        self.workers = workers
        self.seconds = seconds
        self.body = body
        self.fileMib = fileMib
        self.serverPid = serverPid
        self.version = version
        self.cryptoMib = cryptoMib
    }

    /// Runs the benchmark, printing its figures; returns whether everything arrived intact.
    public func run() throws -> Bool {
        if let cryptoMib {
            let (time, output) = try BenchCrypto.run(mebibytes: cryptoMib)
            print("crypto: aes-128-cbc encrypt \(cryptoMib) MiB (1 MiB pieces) in \(benchFormat(time, 2))s = \(benchFormat(Double(cryptoMib) / time, 0)) MiB/s (\(output) bytes out)")
            return true
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
        return ok
    }
}
