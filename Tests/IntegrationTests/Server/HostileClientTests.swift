import Adapters
import Application
import Domain
import Foundation
import NIOCore
import Synchronization
import Testing

/// While clients misbehave (sit idle, trickle bytes, lie about sizes, send garbage, pull
/// inboxes that do not exist), a well-behaved client keeps being served with bounded
/// latency, and the server's memory stays bounded.
@Suite("Hostile clients", .serialized)
struct HostileClientTests {
    /// Stores where these tests are cheap; PostgreSQL joins the ones that need no volume.
    static var localKinds: [StoreKind] { StoreKind.available.filter { $0 != .postgres } }
    static let nineThousand: [UInt8] = [2, 0x28, 0x23, 0, 0, 0, 0]
    /// The bound on every request of a well-behaved client while others misbehave.
    static let latencyBound = Duration.seconds(2)

    @Test("1,000 idle connections do not stop a well-behaved client", arguments: localKinds)
    func thousandIdle(kind: StoreKind) async throws {
        // Each held connection costs two descriptors here (client and in-process server),
        // and other tests run beside this one.
        let limit = raiseOpenFileLimit(to: 8192)
        #expect(limit >= 2 * 1000 + 1024, "RLIMIT_NOFILE is \(limit): raise the hard limit to run 1,000 idle connections")
        let idle = min(1000, (limit - 1024) / 2)
        let configuration = SeedServerConfiguration(host: "127.0.0.1", port: 0, maxConnections: 1100, idleTimeoutSeconds: 60)
        try await TestServer.with(kind, configuration: configuration) { server in
            let rounds = try await Self.holding(idle, port: server.port) { _ in
                try await eventually(timeout: .seconds(10)) { server.server.openConnections >= idle }
                #expect(server.server.openConnections == idle)
                return try await WellBehavedClient.keepServing(port: server.port, until: .now + .seconds(1))
            }
            print("hostile[\(kind)] 1000 idle: worst request \(rounds.worst) over \(rounds.slowest.count) rounds")
            #expect(rounds.worst < Self.latencyBound)
            try await Self.waitUntilNoConnections(server.server)
        }
    }

    @Test("200 clients sending one byte a second are cut by the idle timeout; others are served", arguments: localKinds)
    func slowloris(kind: StoreKind) async throws {
        let configuration = SeedServerConfiguration(host: "127.0.0.1", port: 0, idleTimeoutSeconds: 0.8)
        try await TestServer.with(kind, configuration: configuration) { server in
            let port = server.port
            let deadline = ContinuousClock.now + .seconds(3)
            let outcomes = Shared<[Int?]>([])
            let attack = Task {
                await withTaskGroup(of: Void.self) { group in
                    for worker in 0..<200 {
                        group.addTask {
                            // Each attacker reconnects as soon as it is cut, for as long as the attack lasts.
                            while ContinuousClock.now < deadline {
                                let written = try? await Self.trickle(Requests.register("slow-\(worker)"), port: port, interval: .seconds(1))
                                outcomes.value.withLock { $0.append(written ?? nil) }
                            }
                        }
                    }
                }
            }
            // Probe once the attack is under way: most attackers hold a connection.
            try await eventually { server.server.openConnections >= 100 }
            let rounds = try await WellBehavedClient.keepServing(port: port, until: deadline)
            await attack.value
            let sessions = outcomes.value.withLock { $0 }
            print("hostile[\(kind)] slowloris: \(sessions.count) sessions cut, worst request \(rounds.worst) over \(rounds.slowest.count) rounds")
            #expect(rounds.worst < Self.latencyBound)
            #expect(sessions.count >= 200)
            #expect(sessions.allSatisfy { $0 != nil }, "a trickling connection was never cut")
            #expect(sessions.compactMap { $0 }.allSatisfy { $0 < 5 }, "a trickling connection outlived the idle timeout")
            try await Self.waitUntilNoConnections(server.server)
        }
    }

    @Test("the connection limit refuses a client while trickling ones hold every slot, then serves it")
    func connectionLimitUnderSlowloris() async throws {
        let configuration = SeedServerConfiguration(host: "127.0.0.1", port: 0, maxConnections: 40, idleTimeoutSeconds: 1.5)
        try await TestServer.with(.memory, configuration: configuration) { server in
            let port = server.port
            // 40 connections send three bytes, half a second apart, then fall silent.
            let holders = Task {
                await withTaskGroup(of: Int?.self) { group in
                    for worker in 0..<40 {
                        group.addTask {
                            try? await Self.trickle(Requests.register("hold-\(worker)"), port: port, interval: .milliseconds(500), stopAfter: 3)
                        }
                    }
                    var cut = 0
                    for await written in group where written != nil { cut += 1 }
                    return cut
                }
            }
            try await eventually { server.server.openConnections >= 40 }
            #expect(server.server.openConnections == 40)
            // Full: closed on accept, no reply.
            let refused = (try? await RawClient.exchange(Requests.register("refused"), port: port)) ?? []
            #expect(refused.isEmpty)
            // Once the silent ones are cut, service resumes.
            #expect(try await eventually(timeout: .seconds(10), every: .milliseconds(100)) {
                (try? await WellBehavedClient.round(port: port, name: "after-\(UInt32.random(in: 0...UInt32.max))")) != nil
            })
            #expect(await holders.value == 40)
        }
    }

    @Test("headers that claim 4 GiB and stop neither allocate nor block", arguments: localKinds)
    func hugeClaims(kind: StoreKind) async throws {
        // The limit admits the claim, so the server really waits for 4 GiB.
        let configuration = SeedServerConfiguration(host: "127.0.0.1", port: 0, idleTimeoutSeconds: 1.5)
        try await TestServer.with(kind, limits: ServerLimits(maxPayload: .max), configuration: configuration) { server in
            let stores = server.stores
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let port = server.port
            let before = residentKiB(pid: getpid()) ?? 0
            let claims: [[UInt8]] = (0..<60).map { index in
                index % 2 == 0
                    ? Requests.header(.zero, code: 100, size: .max)
                    : Requests.header(alice, code: 103, size: .max) + bob.bytes + [4]
                        + withUnsafeBytes(of: (UInt32.max - 21).littleEndian) { Array($0) }
            }
            let attack = Task {
                await withTaskGroup(of: [UInt8].self) { group in
                    for claim in claims {
                        group.addTask { (try? await RawClient.exchange(claim, port: port)) ?? [] }
                    }
                    var replies: [[UInt8]] = []
                    for await reply in group { replies.append(reply) }
                    return replies
                }
            }
            let rounds = try await WellBehavedClient.keepServing(port: port, until: .now + .seconds(1.5))
            let replies = await attack.value
            let after = residentKiB(pid: getpid()) ?? 0
            print("hostile[\(kind)] 4 GiB claims: worst request \(rounds.worst), test-process RSS \(before) -> \(after) KiB")
            #expect(rounds.worst < Self.latencyBound)
            #expect(replies.count == 60)
            #expect(replies.allSatisfy { $0.isEmpty || $0 == Self.nineThousand })
            #expect(after - before < 64 * 1024, "memory grew by \(after - before) KiB")
            // Nothing was stored and every aborted upload's storage is gone.
            #expect(try await server.request(Requests.pull(bob)).messages.isEmpty)
            #expect(try await settledPendingStorage(stores) == 0)
            try await Self.waitUntilNoConnections(server.server)
        }
    }

    @Test("a flood of random garbage does not disturb a well-behaved client", arguments: localKinds)
    func garbageFlood(kind: StoreKind) async throws {
        let configuration = SeedServerConfiguration(host: "127.0.0.1", port: 0, idleTimeoutSeconds: 2)
        try await TestServer.with(kind, configuration: configuration) { server in
            let port = server.port
            let deadline = ContinuousClock.now + .seconds(2)
            let bad = Shared(0)
            let sent = Shared(0)
            let attack = Task {
                await withTaskGroup(of: Void.self) { group in
                    for worker in 0..<6 {
                        group.addTask {
                            var round = 0
                            while ContinuousClock.now < deadline {
                                var bytes = [UInt8](repeating: 0, count: Int.random(in: 1...2048))
                                for index in bytes.indices { bytes[index] = UInt8.random(in: 0...255) }
                                // Half look like a request code, so they get past the first check.
                                if round % 2 == 0 && bytes.count > 17 { bytes[17] = UInt8.random(in: 100...104) }
                                let reply = (try? await RawClient.exchange(bytes, port: port, closeAfterWrite: (round + worker) % 3 != 0)) ?? []
                                if !(reply.isEmpty || reply == Self.nineThousand) { bad.value.withLock { $0 += 1 } }
                                sent.value.withLock { $0 += 1 }
                                round += 1
                            }
                        }
                    }
                }
            }
            let rounds = try await WellBehavedClient.keepServing(port: port, until: deadline)
            await attack.value
            print("hostile[\(kind)] garbage: \(sent.value.withLock { $0 }) requests, worst request \(rounds.worst)")
            #expect(rounds.worst < Self.latencyBound)
            #expect(bad.value.withLock { $0 } == 0, "garbage got a reply other than 9000 or a close")
            #expect(sent.value.withLock { $0 } >= 20)
            try await Self.waitUntilNoConnections(server.server)
        }
    }

    @Test("payload sizes that disagree with their contents store nothing", arguments: StoreKind.available)
    func lyingSizes(kind: StoreKind) async throws {
        let configuration = SeedServerConfiguration(host: "127.0.0.1", port: 0, idleTimeoutSeconds: 2)
        try await TestServer.with(kind, configuration: configuration) { server in
            let stores = server.stores
            let alice = try await server.register("alice")
            let bob = try await server.register("bob")
            let port = server.port
            func le(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
            let four: [UInt8] = [1, 2, 3, 4]
            // (what, bytes, close after writing)
            let lies: [(String, [UInt8], Bool)] = [
                ("payload claims more than is sent, then close", Requests.header(alice, code: 103, size: 21 + 4 + 100) + bob.bytes + [3] + le(4) + four, true),
                ("payload claims more than is sent, then silence", Requests.header(alice, code: 103, size: 21 + 4 + 100) + bob.bytes + [3] + le(4) + four, false),
                ("content size larger than the payload", Requests.header(alice, code: 103, size: 21 + 4) + bob.bytes + [3] + le(400) + four, false),
                ("content size smaller than the payload", Requests.header(alice, code: 103, size: 21 + 4) + bob.bytes + [3] + le(1) + four, false),
                ("file content cut short", Requests.header(alice, code: 103, size: 21 + 200_000) + bob.bytes + [4] + le(200_000) + [UInt8](repeating: 9, count: 100_000), true),
                ("key request with content", Requests.send(alice, to: bob, type: 1, content: four), false),
                ("register shorter than 415", Requests.header(.zero, code: 100, size: 300) + [UInt8](repeating: 0x41, count: 300), false),
                ("register cut short", Array(Requests.register("liar").prefix(200)), true),
                ("list with a payload", Requests.header(alice, code: 101, size: 3) + [1, 2, 3], false),
                ("pull with a payload", Requests.header(bob, code: 104, size: 5) + [1, 2, 3, 4, 5], false),
                ("key request with 15 bytes", Requests.header(alice, code: 102, size: 15) + Array(bob.bytes.prefix(15)), false),
            ]
            let deadline = ContinuousClock.now + .seconds(2)
            let answered = Shared<[String]>([])
            let attack = Task {
                await withTaskGroup(of: Void.self) { group in
                    for worker in 0..<4 {
                        group.addTask {
                            var index = worker
                            while ContinuousClock.now < deadline {
                                let (what, bytes, close) = lies[index % lies.count]
                                let reply = (try? await RawClient.exchange(bytes, port: port, closeAfterWrite: close)) ?? []
                                if !(reply.isEmpty || reply == Self.nineThousand) { answered.value.withLock { $0.append(what) } }
                                index += 1
                            }
                        }
                    }
                }
            }
            let rounds = try await WellBehavedClient.keepServing(port: port, until: deadline)
            await attack.value
            print("hostile[\(kind)] lying sizes: worst request \(rounds.worst)")
            #expect(rounds.worst < Self.latencyBound)
            #expect(answered.value.withLock { $0 }.isEmpty, "accepted: \(Set(answered.value.withLock { $0 }))")
            #expect(try await server.request(Requests.pull(bob)).messages.isEmpty, "a lying request stored a message")
            #expect(try await server.request(Requests.list(alice)).payload.count % 271 == 0)
            #expect(try await settledPendingStorage(stores) == 0)
        }
    }

    @Test("pulls, lists and sends by unregistered ids get 9000 and nothing else", arguments: StoreKind.available)
    func unregistered(kind: StoreKind) async throws {
        try await TestServer.with(kind) { server in
            let bob = try await server.register("bob")
            let port = server.port
            let deadline = ContinuousClock.now + .seconds(1.5)
            let replies = Shared<[[UInt8]]>([])
            let attack = Task {
                await withTaskGroup(of: Void.self) { group in
                    for worker in 0..<6 {
                        group.addTask {
                            var round = 0
                            while ContinuousClock.now < deadline {
                                var generator = SystemRandomNumberGenerator()
                                let stranger = ClientID.random(using: &generator)
                                let request = switch (round + worker) % 3 {
                                case 0: Requests.pull(stranger)
                                case 1: Requests.list(stranger)
                                default: Requests.send(stranger, to: bob, type: 3, content: [1, 2, 3])
                                }
                                let reply = (try? await RawClient.exchange(request, port: port)) ?? []
                                replies.value.withLock { $0.append(reply) }
                                round += 1
                            }
                        }
                    }
                }
            }
            let rounds = try await WellBehavedClient.keepServing(port: port, until: deadline)
            await attack.value
            let all = replies.value.withLock { $0 }
            print("hostile[\(kind)] unregistered: \(all.count) requests, worst request \(rounds.worst)")
            #expect(rounds.worst < Self.latencyBound)
            #expect(all.count >= 20)
            #expect(all.allSatisfy { $0 == Self.nineThousand })
            #expect(try await server.request(Requests.pull(bob)).messages.isEmpty, "a stranger's send was stored")
        }
    }

    @Test("the server process's memory stays bounded under 1,000 idle connections, 200 4 GiB claims and garbage")
    func residentMemory() async throws {
        let directory = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("hostile.json")
        try Data("""
            {"server": {"maxConnections": 1500, "idleTimeoutSeconds": 30},
             "limits": {"maxPayloadBytes": 4294967270},
             "storage": {"kind": "memory"}}
            """.utf8).write(to: config)
        let limit = raiseOpenFileLimit(to: 8192)
        #expect(limit >= 1200 + 1024, "RLIMIT_NOFILE is \(limit): raise the hard limit to hold 1,200 connections")
        let server = try await ServerProcess.start(arguments: ["--config", config.path])
        let port = server.port
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        _ = try await WellBehavedClient.keepServing(port: port, until: .now, minimum: 3)
        let before = residentKiB(pid: server.pid) ?? 0
        // The largest content the configuration accepts: 4 GiB less 26 bytes.
        let claim: [UInt8] = Requests.header(alice, code: 103, size: 21 + 4_294_967_270) + bob.bytes + [4]
            + withUnsafeBytes(of: UInt32(4_294_967_270).littleEndian) { Array($0) }
        var peak = before
        let rounds = try await Self.holding(1200, port: port, firstWrite: { $0 >= 1000 ? claim : nil }) { _ in
            let deadline = ContinuousClock.now + .seconds(2)
            let garbage = Task {
                while ContinuousClock.now < deadline {
                    let bytes = [UInt8](repeating: UInt8.random(in: 0...255), count: Int.random(in: 1...4096))
                    _ = try? await RawClient.exchange(bytes, port: port, closeAfterWrite: true)
                }
            }
            let rounds = try await WellBehavedClient.keepServing(port: port, until: deadline)
            await garbage.value
            peak = max(peak, residentKiB(pid: server.pid) ?? 0)
            return rounds
        }
        let after = residentKiB(pid: server.pid) ?? 0
        print("hostile[process] RSS before \(before) KiB, under load \(peak) KiB, after \(after) KiB; worst request \(rounds.worst)")
        #expect(before > 0)
        #expect(peak - before < 64 * 1024, "RSS grew by \(peak - before) KiB")
        #expect(rounds.worst < Self.latencyBound)
        #expect(try await server.request(Requests.pull(bob)).messages.isEmpty)
        #expect(await server.terminate() == 0)
    }

    // MARK: - Helpers

    /// Opens `count` connections (a hundred at a time), writes `firstWrite(index)` on those
    /// it gives bytes for, runs `body` while they are held, then closes them all, however
    /// `body` ends.
    static func holding<T: Sendable>(
        _ count: Int, port: Int, firstWrite: @escaping @Sendable (Int) -> [UInt8]? = { _ in nil },
        _ body: ([NIOAsyncChannel<ByteBuffer, ByteBuffer>]) async throws -> T
    ) async throws -> T {
        var channels: [NIOAsyncChannel<ByteBuffer, ByteBuffer>] = []
        var failures = 0
        for batch in stride(from: 0, to: count, by: 100) {
            // Every opened channel is collected, so that each one is finished below.
            await withTaskGroup(of: NIOAsyncChannel<ByteBuffer, ByteBuffer>?.self) { group in
                for index in batch..<min(batch + 100, count) {
                    group.addTask {
                        guard let channel = try? await RawClient.connect(port: port) else { return nil }
                        if let bytes = firstWrite(index) {
                            try? await channel.channel.writeAndFlush(ByteBuffer(bytes: bytes))
                        }
                        return channel
                    }
                }
                for await channel in group {
                    if let channel { channels.append(channel) } else { failures += 1 }
                }
            }
        }
        func closeAll() async {
            for channel in channels { try? await channel.executeThenClose { _, _ in } }
        }
        do {
            guard failures == 0 else { throw TestSetupError("\(failures) of \(count) connections failed") }
            let result = try await body(channels)
            await closeAll()
            return result
        } catch {
            await closeAll()
            throw error
        }
    }

    /// Connects and writes `request` one byte per `interval` (the first `stopAfter` bytes
    /// only, then silence) until the server closes the connection. Returns how many bytes
    /// were written before the close, or nil if the whole request went out uncut.
    static func trickle(_ request: [UInt8], port: Int, interval: Duration, stopAfter: Int? = nil) async throws -> Int? {
        let channel = try await RawClient.connect(port: port)
        let written = Shared(0)
        return try await channel.executeThenClose { inbound, outbound in
            try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask {
                    do { for try await _ in inbound {} } catch {}
                    return true
                }
                group.addTask {
                    do {
                        for byte in request.prefix(stopAfter ?? request.count) {
                            try await outbound.write(ByteBuffer(bytes: [byte]))
                            written.value.withLock { $0 += 1 }
                            // Pacing, not a wait: the trickle is the scenario under test.
                            try await Task.sleep(for: interval)
                        }
                        if stopAfter == nil { return false }
                        // Silence until the server cuts the connection, when the reader
                        // above ends and this task is cancelled.
                        try await Task.sleep(for: .seconds(60))
                        return false
                    } catch is CancellationError {
                        return false
                    } catch {
                        return true
                    }
                }
                let cut = try await group.next() ?? false
                group.cancelAll()
                return cut ? written.value.withLock { $0 } : nil
            }
        }
    }

    /// Waits (up to 5 s) until the server has let go of every connection.
    static func waitUntilNoConnections(_ server: SeedServer) async throws {
        try await eventually { server.openConnections == 0 }
        #expect(server.openConnections == 0, "\(server.openConnections) connections still open")
    }

    /// A value several tasks update.
    final class Shared<Value: Sendable>: Sendable {
        let value: Mutex<Value>
        init(_ initial: Value) { value = Mutex(initial) }
    }
}

