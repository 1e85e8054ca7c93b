import Adapters
import Application
import Domain
import NIOCore
import SealpostWire

/// A v3 account's private keys for the server tests (random, test only), and the signed
/// requests made from them with the codec.
struct V3TestAccount: Sendable {
    let name: String
    let seed: [UInt8]
    let identityDH: [UInt8]
    let signedPrekeyPrivate: [UInt8]

    init(_ name: String) throws {
        self.name = name
        seed = try OpenSSLCurve25519.randomBytes(32)
        identityDH = try OpenSSLCurve25519.randomBytes(32)
        signedPrekeyPrivate = try OpenSSLCurve25519.randomBytes(32)
    }

    func sign(_ message: [UInt8]) throws -> Signature { try OpenSSLCurve25519.sign(message, seed: seed) }

    func identity() throws -> IdentityKeys {
        let dh = try OpenSSLCurve25519.agreementPublicKey(privateKey: identityDH)
        return IdentityKeys(signingKey: try OpenSSLCurve25519.signingPublicKey(seed: seed), agreementKey: dh,
                            agreementKeySignature: try sign(V3Signing.identityKey(dh)))
    }

    func prekey(id: UInt32, signed: Bool) throws -> Prekey {
        let key = try OpenSSLCurve25519.agreementPublicKey(privateKey: signed ? signedPrekeyPrivate : OpenSSLCurve25519.randomBytes(32))
        return Prekey(id: id, publicKey: key, signature: try sign(V3Signing.prekey(id: id, key: key, signed: signed)))
    }

    /// REGISTER with `prekeys` one-time prekeys (ids from 100), its proof over this session's
    /// nonce and the certificate hash the client saw.
    func register(nonce: [UInt8], certificateHash: [UInt8], prekeys: Int = 5) throws -> V3Request {
        var registration = V3Registration(
            name: name, identity: try identity(), signedPrekey: try prekey(id: 1, signed: true),
            oneTimePrekeys: try (0..<prekeys).map { try prekey(id: UInt32(100 + $0), signed: false) },
            proof: try Signature(bytes: [UInt8](repeating: 0, count: 64)))
        registration.proof = try sign(V3Signing.registration(registration, nonce: nonce, certificateHash: certificateHash))
        return .register(registration)
    }

    func authenticate(_ account: AccountID, nonce: [UInt8], certificateHash: [UInt8]) throws -> V3Request {
        .authenticate(account: account, signature: try sign(V3Signing.authentication(nonce: nonce, account: account, certificateHash: certificateHash)))
    }
}

/// A raw v3 session for the server tests: numbered requests, their answers, and the pushed
/// frames that arrive in between (kept in `pushed`).
final class V3Probe {
    let session: SecureClientSession
    private(set) var pushed: [V3ServerMessage] = []
    private var nextID: UInt32 = 1

    init(_ session: SecureClientSession) {
        self.session = session
    }

    var nonce: [UInt8] { session.hello.nonce }
    var certificateHash: [UInt8] { session.certificateHash }

    /// Sends `request` and returns its RESULT (decoded) or ERROR.
    func call(_ request: V3Request) async throws -> Result<V3Result, V3Error> {
        let id = nextID
        nextID += 1
        try await session.send(request, requestID: id)
        return try await answer(to: id, type: request.type)
    }

    /// Reads until the answer to `id`, keeping pushed frames.
    func answer(to id: UInt32, type: V3RequestType) async throws -> Result<V3Result, V3Error> {
        while let message = try await session.next() {
            switch message {
            case .result(id, let body): return .success(try V3Result.decode(answering: type, body: body))
            case .error(id, let error): return .failure(error)
            case .delivery, .notice: pushed.append(message)
            default: throw ProbeError("unexpected \(message) while waiting for the answer to \(id)")
            }
        }
        throw ProbeError("the server closed the session before answering \(id)")
    }

    /// Sends every request at once (pipelined, up to `maxInFlight`), then reads all their
    /// answers, keeping pushed frames; returns the answers in request order.
    func pipeline(_ requests: [V3Request]) async throws -> [Result<V3Result, V3Error>] {
        var types: [UInt32: V3RequestType] = [:]
        var order: [UInt32] = []
        for request in requests {
            let id = nextID
            nextID += 1
            try await session.send(request, requestID: id)
            types[id] = request.type
            order.append(id)
        }
        var answers: [UInt32: Result<V3Result, V3Error>] = [:]
        while answers.count < order.count {
            guard let message = try await session.next() else {
                throw ProbeError("the server closed the session with \(order.count - answers.count) answers missing")
            }
            switch message {
            case .result(let id, let body) where types[id] != nil:
                answers[id] = .success(try V3Result.decode(answering: types[id]!, body: body))
            case .error(let id, let error) where types[id] != nil:
                answers[id] = .failure(error)
            case .delivery, .notice:
                pushed.append(message)
            default:
                throw ProbeError("unexpected \(message) while waiting for pipelined answers")
            }
        }
        return order.map { answers[$0]! }
    }

    /// Registers `account` on this session; returns its id.
    func register(_ account: V3TestAccount, prekeys: Int = 5) async throws -> AccountID {
        guard case .success(.registered(let id)) = try await call(try account.register(nonce: nonce, certificateHash: certificateHash, prekeys: prekeys)) else {
            throw ProbeError("REGISTER \(account.name) refused")
        }
        return id
    }

    /// Authenticates as `id` with `account`'s key.
    func authenticate(_ account: V3TestAccount, as id: AccountID) async throws -> Result<V3Result, V3Error> {
        try await call(try account.authenticate(id, nonce: nonce, certificateHash: certificateHash))
    }

    /// Waits for `count` deliveries in total (pushed so far included); returns them.
    func deliveries(_ count: Int) async throws -> [V3Delivery] {
        while delivered.count < count {
            guard let message = try await session.next() else { throw ProbeError("closed after \(delivered.count) of \(count) deliveries") }
            pushed.append(message)
        }
        return delivered
    }

    /// Reads pushed frames until `condition` holds of all pushed so far.
    func pushes(until condition: ([V3ServerMessage]) -> Bool) async throws {
        while !condition(pushed) {
            guard let message = try await session.next() else { throw ProbeError("closed while waiting for pushed frames; pushed so far: \(pushed)") }
            pushed.append(message)
        }
    }

    var delivered: [V3Delivery] {
        pushed.compactMap { if case .delivery(let delivery) = $0 { delivery } else { nil } }
    }

    var notices: [V3Notice] {
        pushed.compactMap { if case .notice(let notice) = $0 { notice } else { nil } }
    }
}

struct ProbeError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension Result {
    var failureCode: V3ErrorCode? {
        if case .failure(let error as V3Error) = self { error.knownCode } else { nil }
    }
}

extension AccountLimits {
    /// Limits for tests that load a server on purpose: rate limits and the inbox cap far above
    /// what they send (the defaults allow one sender 60 messages to one recipient, then one a
    /// second). The tests of the limits themselves use the defaults or their own.
    static var load: AccountLimits {
        let open = RateLimit(burst: 1e12, perSecond: 1e12)
        return AccountLimits(
            rates: RateLimits(sendsPerPair: open, inboundBytesPerRecipient: open, bundleFetches: open, registrations: open,
                              failedAuthentications: open, attachmentBytesPerDay: 1e15),
            inbox: InboxCap(maxMessages: 10_000_000, maxBytes: 1 << 40, senderSharePercent: 100))
    }
}
