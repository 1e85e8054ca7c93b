import Adapters
@testable import Application
import Domain
import Synchronization

/// The v3 use cases over the in-memory stores, the real Ed25519 verifier and a manual clock.
struct AccountFixture {
    let accounts: any AccountStore = InMemoryAccountStore()
    let queue: any EnvelopeQueue = InMemoryEnvelopeQueue()
    let notifier: any DeliveryNotifier = LocalDeliveryNotifier()
    let clock = ManualClock()
    let limits: AccountLimits
    let useCases: AccountUseCases
    static let binding = ChannelBinding(nonce: [UInt8](repeating: 0xA5, count: 32), certificateHash: [UInt8](repeating: 0xC3, count: 32))

    init(limits: AccountLimits = AccountLimits()) {
        self.limits = limits
        useCases = AccountUseCases(accounts: accounts, queue: queue, notifier: notifier, verifier: OpenSSLSignatureVerifier(),
                                   clock: clock, limits: limits)
    }

    /// Registers `keys` under `name` through the use case.
    @discardableResult
    func register(_ keys: TestAccountKeys, _ name: String, prekeys: Int = 5) async throws -> Account {
        try await useCases.register(keys.registration(name: name, prekeys: prekeys, binding: Self.binding), binding: Self.binding)
    }
}

/// One account's private keys (random, test only) and the signed public parts made from them.
struct TestAccountKeys {
    let seed: [UInt8]
    let identityDH: [UInt8]
    let signedPrekeyPrivate: [UInt8]

    init() throws {
        seed = try OpenSSLCurve25519.randomBytes(32)
        identityDH = try OpenSSLCurve25519.randomBytes(32)
        signedPrekeyPrivate = try OpenSSLCurve25519.randomBytes(32)
    }

    var signingKey: SigningPublicKey { try! OpenSSLCurve25519.signingPublicKey(seed: seed) }

    func sign(_ message: [UInt8]) -> Signature { try! OpenSSLCurve25519.sign(message, seed: seed) }

    var identity: IdentityKeys {
        let dh = try! OpenSSLCurve25519.agreementPublicKey(privateKey: identityDH)
        return IdentityKeys(signingKey: signingKey, agreementKey: dh, agreementKeySignature: sign(SignedStatement.identityKey(dh)))
    }

    func prekey(id: UInt32, signed: Bool) -> Prekey {
        let key = try! OpenSSLCurve25519.agreementPublicKey(privateKey: signed ? signedPrekeyPrivate : OpenSSLCurve25519.randomBytes(32))
        return Prekey(id: id, publicKey: key, signature: sign(SignedStatement.prekey(id: id, key: key, signed: signed)))
    }

    func oneTimePrekeys(_ ids: some Sequence<UInt32>) -> [Prekey] { ids.map { prekey(id: $0, signed: false) } }

    /// A registration whose proof signs `binding` and a stand-in body (the wire's bytes do
    /// not matter to the use case: it checks the proof over whatever body it is given).
    func registration(name: String, prekeys: Int, binding: ChannelBinding, body: [UInt8] = Array("a register body".utf8)) -> AccountRegistration {
        AccountRegistration(
            name: name, identity: identity, signedPrekey: prekey(id: 1, signed: true),
            oneTimePrekeys: oneTimePrekeys((0..<UInt32(prekeys)).map { 100 + $0 }),
            proof: sign(SignedStatement.registration(nonce: binding.nonce, certificateHash: binding.certificateHash, unsignedBody: body)),
            unsignedBody: body)
    }

    func authentication(_ account: AccountID, binding: ChannelBinding = AccountFixture.binding) -> Signature {
        sign(SignedStatement.authentication(nonce: binding.nonce, account: account, certificateHash: binding.certificateHash))
    }
}

/// Collects what a delivery pushes.
final class PushRecorder: Sendable {
    private let pushed = Mutex<[AccountDelivery.Push]>([])

    func record(_ push: AccountDelivery.Push) { pushed.withLock { $0.append(push) } }

    var envelopes: [QueuedEnvelope] {
        pushed.withLock { $0.flatMap { push -> [QueuedEnvelope] in if case .envelopes(let list) = push { list } else { [] } } }
    }

    /// Each push in order: "envelopes" for a batch of deliveries, "caughtUp", "prekeysLow".
    var kinds: [String] {
        pushed.withLock { $0.map { push in
            switch push {
            case .envelopes: "envelopes"
            case .caughtUp: "caughtUp"
            case .prekeysLow: "prekeysLow"
            }
        } }
    }

    var notices: [Int] {
        pushed.withLock { $0.compactMap { push -> Int? in if case .prekeysLow(let count) = push { count } else { nil } } }
    }
}

/// Polls `condition` until it holds or `seconds` pass.
func eventually(within seconds: Double = 5, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return try await condition()
}
