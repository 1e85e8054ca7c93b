import Adapters
import Application
import Domain
import Foundation
import SealpostWire
import Testing

/// The attachment quota (`limits.rate.attachmentBytesPerDay`, docs/protocol-v3.md §7.1) over
/// real TLS: on every store, ATTACH_CREATE past it is refused with the time to wait; across
/// two `sealpost serve` processes on one PostgreSQL schema, one account uploading through
/// both at once is admitted exactly its quota in all, not a quota per process.
@Suite("attachment quota", .serialized)
struct SecureAttachmentQuotaTests {
    /// The quota of this test: 1 MB a day, which drains 11.6 bytes a second.
    static let quota = 1_000_000
    /// Each ATTACH_CREATE declares this size: 20 fit in the quota, the 21st waits over an hour.
    static let size = 50_000

    @Test("past the quota ATTACH_CREATE is rateLimited with the wait and creates nothing; other accounts are charged apart; the bucket drains", arguments: StoreKind.available)
    func refusedPastTheQuota(_ kind: StoreKind) async throws {
        var limits = AccountLimits()
        limits.rates.attachmentBytesPerDay = 86_400  // 1 byte a second
        try await AccountTestStores.with(kind) { stores in
            let clock = SteppedWallClock()
            let useCases = AccountUseCases(
                accounts: stores.accounts, queue: stores.envelopes, notifier: stores.notifier, verifier: OpenSSLSignatureVerifier(),
                clock: clock, limits: limits, attachments: stores.attachments, attachmentQuota: stores.attachmentQuota)
            try await SecureTestServer.with(router: SecureRequestRouter(useCases: useCases)) { server in
                let (alice, bob) = try (V3TestAccount("alice"), V3TestAccount("bob"))
                let bobID = try await withPinnedSession(server) { try await V3Probe($0).register(bob) }
                let (aliceID, answers) = try await withPinnedSession(server) { session in
                    let probe = V3Probe(session)
                    return (try await probe.register(alice), [
                        try await probe.call(.attachCreate(size: 80_000, recipients: [bobID])),
                        // 90,000 bytes against 86,400: 3,600 s until 3,600 bytes drained.
                        try await probe.call(.attachCreate(size: 10_000, recipients: [bobID])),
                        try await probe.call(.attachCreate(size: 86_401, recipients: [bobID])),
                    ])
                }
                #expect(answers[0].failureCode == nil)
                guard case .failure(let refused) = answers[1], case .failure(let never) = answers[2] else {
                    Issue.record("past the quota, ATTACH_CREATE was admitted: \(answers)")
                    return
                }
                print("attachment quota (\(kind)): \(LimitExplanation.text(code: refused.code, retryAfterMilliseconds: refused.retryAfterMilliseconds) ?? "")")
                #expect(refused.knownCode == .rateLimited && refused.retryAfterMilliseconds == 3_600_000)
                #expect(never.knownCode == .rateLimited && never.retryAfterMilliseconds == .max)
                #expect(try await stores.attachments.usage().attachments == 1)
                // Bob's bucket is his own.
                let bobsAnswer = try await withPinnedSession(server) { session in
                    let probe = V3Probe(session)
                    guard case .success = try await probe.authenticate(bob, as: bobID) else { throw ProbeError("AUTHENTICATE bob refused") }
                    return try await probe.call(.attachCreate(size: 86_400, recipients: [bobID]))
                }
                #expect(bobsAnswer.failureCode == nil)
                // An hour (and a second, against rounding) later, Alice's 10,000 fit.
                clock.advance(days: 3_601.0 / 86_400)
                let later = try await withPinnedSession(server) { session in
                    let probe = V3Probe(session)
                    guard case .success = try await probe.authenticate(alice, as: aliceID) else {
                        throw ProbeError("AUTHENTICATE alice refused")
                    }
                    return try await probe.call(.attachCreate(size: 10_000, recipients: [bobID]))
                }
                #expect(later.failureCode == nil)
                #expect(try await stores.attachments.usage().attachments == 3)
            }
        }
    }

    @Test("ATTACH_CREATEs pipelined through two servers at once: exactly the quota is admitted, the rest get rateLimited with the time to wait",
          .enabled(if: StoreKind.available.contains(.postgres)))
    func quotaAcrossProcesses() async throws {
        let directory = try TestStores.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let schema = try await ServerProcess.freshPostgresSchema()
        let open: [String: Any] = ["burst": 1e9, "perSecond": 1e9]
        let limits: [String: Any] = ["limits": ["rate": [
            "registrations": open, "failedAuthentications": open, "attachmentBytesPerDay": Self.quota,
        ]]]
        let json = String(decoding: try JSONSerialization.data(withJSONObject: limits), as: UTF8.self)
        let arguments = try ServerProcess.postgresArguments(schema: schema) + SecureServerProcess.config(json, in: directory)
        let first = try await SecureServerProcess.start(arguments)
        let second: SecureServerProcess
        do {
            second = try await SecureServerProcess.start(arguments)
        } catch {
            _ = await first.terminate()
            throw error
        }
        do {
            let alice = try V3TestAccount("alice")
            let bob = try V3TestAccount("bob")
            let bobID = try await Self.session(first, bob, nil) { _, id in id }
            let aliceID = try await Self.session(second, alice, nil) { _, id in id }
            // Both servers at once, 20 creations each: 2 MB asked for against 1 MB.
            let requests: [V3Request] = (0..<20).map { _ in .attachCreate(size: UInt64(Self.size), recipients: [bobID]) }
            async let throughFirst = Self.session(first, alice, aliceID) { probe, _ in try await probe.pipeline(requests) }
            async let throughSecond = Self.session(second, alice, aliceID) { probe, _ in try await probe.pipeline(requests) }
            let (answersFirst, answersSecond) = try await (throughFirst, throughSecond)
            let admitted = [answersFirst, answersSecond].map { answers in answers.filter { if case .success = $0 { true } else { false } }.count }
            let refusals = (answersFirst + answersSecond).compactMap { if case .failure(let error) = $0 { error } else { nil } }
            let waits = refusals.map(\.retryAfterMilliseconds)
            print("attachment quota across two servers: \(admitted[0]) + \(admitted[1]) creations of \(Self.size) B admitted "
                  + "(\((admitted[0] + admitted[1]) * Self.size) B of a \(Self.quota) B quota), \(refusals.count) rateLimited, "
                  + "retry-after \(waits.min() ?? 0)–\(waits.max() ?? 0) ms")
            #expect((admitted[0] + admitted[1]) * Self.size == Self.quota)
            #expect(refusals.count == 20 && refusals.allSatisfy { $0.knownCode == .rateLimited })
            // 50,000 bytes to drain at 1,000,000 a day: 4,320 s, less what drained meanwhile.
            #expect(waits.allSatisfy { $0 > 4_000_000 && $0 <= 4_320_001 })
            // The store holds exactly the admitted attachments.
            let storage = try await PostgresSchema.connect(schema)
            let usage = try await storage.attachments.usage()
            await storage.shutdown()
            #expect(usage.attachments == admitted[0] + admitted[1])
        } catch {
            _ = await first.terminate()
            _ = await second.terminate()
            throw error
        }
        #expect(await first.terminate() == 0)
        #expect(await second.terminate() == 0)
    }

    /// Runs `body` on a session with `server` as `account`, registering it when `id` is nil.
    static func session<T: Sendable>(_ server: SecureServerProcess, _ account: V3TestAccount, _ id: AccountID?,
                                     _ body: (V3Probe, AccountID) async throws -> T) async throws -> T {
        try await SecureConnection.withConnection(host: "127.0.0.1", port: server.port, verification: .pinned(server.fingerprint)) { session in
            let probe = V3Probe(session)
            if let id {
                guard case .success = try await probe.authenticate(account, as: id) else { throw ProbeError("AUTHENTICATE \(account.name) refused") }
                return try await body(probe, id)
            }
            return try await body(probe, try await probe.register(account))
        }
    }
}
