import Adapters
import ArgumentParser
import Domain
import Foundation

/// `sealpost exchange-bench`: the whole system through the CLI's own code. Two users, each
/// with a home of its own, registered as `sealpost register` does; one sends --messages texts
/// through the code `sealpost send` runs (`SecureClient.send`) while the other receives
/// through the code `sealpost listen` runs (`SecureClient.receiveAll(follow:)`, its SQLite
/// store, history and ACKs), then the other way. scripts/bench --v3-client runs it.
struct ExchangeBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exchange-bench",
        abstract: "Two v3 users exchanging texts through the CLI's own code: send→display latency and messages/s.",
        discussion: """
            Makes two homes under --work, registers a user in each on the v3 server (--server, \
            its key pinned with --server-fingerprint), and starts each one's listen loop. The \
            first sends --messages texts of --text-bytes to the second, one after the other as \
            `sealpost send` does, each timed from the call to send to the point where the \
            second's listen loop would print it; then the second sends as many back. Prints \
            p50/p99 of that latency, the send call's own p50/p99, and messages/s (first send to \
            last display). Exits 1 unless every text was displayed once. Each client keeps one \
            session, sending and listening on it.
            """,
        shouldDisplay: false)

    @Option(name: .long, help: "The v3 server, HOST:PORT.")
    var server: String

    @Option(name: .long, help: "The server's fingerprint (64 hex digits), pinned.")
    var serverFingerprint: String

    @Option(name: .long, help: "Texts each way.")
    var messages = 10_000

    @Option(name: .long, help: "Text size in bytes.")
    var textBytes = 100

    @Option(name: .long, help: "A directory for the two homes (made if missing).")
    var work: String

    @Option(name: .long, help: "Seconds to wait for the last display after the last send.")
    var drainSeconds = 120.0

    func validate() throws {
        guard ServerAddress(parsing: server) != nil else { throw ValidationError("--server must be HOST:PORT") }
        guard ServerFingerprint(hex: serverFingerprint) != nil else { throw ValidationError("--server-fingerprint must be 64 hex digits") }
        guard messages >= 1 else { throw ValidationError("--messages must be positive") }
        guard (8...60_000).contains(textBytes) else { throw ValidationError("--text-bytes must be 8...60000") }
    }

    func run() async throws {
        guard ServerAddress(parsing: server) != nil else { throw ValidationError("--server must be HOST:PORT") }
        guard let fingerprint = ServerFingerprint(hex: serverFingerprint) else {
            throw ValidationError("--server-fingerprint must be 64 hex digits")
        }
        let verification = ServerVerification.pinned(fingerprint)
        let tag = String(UInt64(Date().timeIntervalSince1970 * 1000) % 0xFFFFFF, radix: 16)
        let names = ["xa\(tag)", "xb\(tag)"]
        var clients: [SecureClient] = []
        for name in names {
            let home = (work as NSString).appendingPathComponent(name)
            let start = ExchangeBenchRecorder.micros()
            _ = try await SecureClient.register(home: home, name: name, serverOption: server, verification: verification)
            print("exchange: registered \(name) in \(home) (\(benchMillis(ExchangeBenchRecorder.micros() - start)) ms)")
            let client = try await SecureClient.open(home: home, server: nil, verification: verification)
            // The session is opened here, before the listen loop and the first send both ask
            // for it: asked at once, each would open one, and the one not kept would go on
            // taking deliveries that nothing reads.
            _ = try await client.connected(reconnecting: true)
            clients.append(client)
        }
        let directions = [ExchangeBenchRecorder(count: messages), ExchangeBenchRecorder(count: messages)]
        // Each side listens for the whole run; what it displays is the other side's direction.
        var listeners: [Task<Void, any Error>] = []
        for (index, client) in clients.enumerated() {
            let incoming = directions[1 - index]
            listeners.append(Task {
                try await client.receiveAll(follow: true) { receipt in
                    // The line `sealpost listen --json` would print, made but not printed.
                    let line = JSONText.receipt(receipt)
                    if case .message(_, _, _, _, .text(let text)) = receipt {
                        incoming.displayed(text)
                    } else if case .alreadySeen = receipt {
                        return
                    } else {
                        StandardStreams.error("exchange: unexpected receipt: \(line)\n")
                    }
                }
            })
        }
        var ok = true
        var summary: [String] = []
        for (index, direction) in directions.enumerated() {
            let sender = clients[index]
            let recipient = names[1 - index]
            for sequence in 0..<messages {
                direction.sending(sequence)
                _ = try await sender.send(text: ExchangeBenchRecorder.text(sequence, bytes: textBytes), to: recipient)
                direction.sent(sequence)
            }
            let deadline = ContinuousClock.now + .seconds(drainSeconds)
            while direction.shown < messages, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(5))
            }
            let figures = direction.figures()
            let label = index == 0 ? "a_to_b" : "b_to_a"
            let complete = figures.shown == messages && figures.duplicates == 0 && figures.foreign == 0
            ok = ok && complete
            print("exchange: \(names[index]) → \(recipient): \(figures.shown)/\(messages) displayed (duplicates \(figures.duplicates), foreign \(figures.foreign)) in \(benchFormatted(figures.seconds, 2)) s = \(benchFormatted(figures.messagesPerSecond, 0)) msg/s; send→display p50 \(benchFormatted(figures.displayP50, 2)) ms p99 \(benchFormatted(figures.displayP99, 2)) ms max \(benchFormatted(figures.displayMax, 1)) ms; send call p50 \(benchFormatted(figures.sendP50, 2)) ms p99 \(benchFormatted(figures.sendP99, 2)) ms")
            if figures.shown < messages { print("exchange: never displayed: \(direction.missing().map { "#\($0)" }.joined(separator: " "))") }
            summary.append("\(label)_msgs_per_s \(benchFormatted(figures.messagesPerSecond, 0)) \(label)_p50_ms \(benchFormatted(figures.displayP50, 2)) \(label)_p99_ms \(benchFormatted(figures.displayP99, 2)) \(label)_send_p50_ms \(benchFormatted(figures.sendP50, 2))")
        }
        // The history each side keeps: every text it sent and every one it displayed.
        for (index, client) in clients.enumerated() {
            let kept = try await client.history(with: names[1 - index]).count
            if kept != 2 * messages { ok = false }
            print("exchange: \(names[index])'s history with \(names[1 - index]): \(kept) entries (expected \(2 * messages))")
        }
        for listener in listeners { listener.cancel() }
        for client in clients { await client.close() }
        print("summary: messages \(messages) text_bytes \(textBytes) \(summary.joined(separator: " ")) ok \(ok)")
        if !ok { throw ExitCode(1) }
    }
}

private func benchMillis(_ micros: UInt64) -> String { benchFormatted(Double(micros) / 1000, 1) }

private func benchFormatted(_ value: Double, _ decimals: Int) -> String { String(format: "%.\(decimals)f", value) }
