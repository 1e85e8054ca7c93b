import Adapters
import Application
import Domain
import Foundation

/// Registering a v3 account, safe against a crash at any step: the keys are kept as a pending
/// registration before REGISTER is sent, and the account is recorded once the server answered.
extension SecureClient {
    /// The steps `$SEALPOST_TEST_DIE_IN_REGISTER` can kill the process at (tests only).
    enum RegistrationStep: String {
        /// The keys are kept as pending; REGISTER was not sent.
        case beforeRegister = "before-register"
        /// The server answered REGISTER; the home has not recorded the account.
        case afterRegister = "after-register"
    }

    /// Registers `name` on the v3 server and makes `home` a v3 home: an identity, a signed
    /// prekey and 100 one-time prekeys.
    ///
    /// 1. The keys are generated and kept, with the name and server, as a pending registration
    ///    (one transaction).
    /// 2. REGISTER is sent.
    /// 3. The account is kept as the home's identity and the pending registration deleted (one
    ///    transaction).
    ///
    /// A home left with a pending registration (a crash, a dropped connection) completes it
    /// when `register` runs again with the same name: REGISTER is sent again with the same keys,
    /// and the server answers it with the account it made the first time, if it did
    /// (docs/protocol-v3.md §5.1). When another identity took the name meanwhile, the pending
    /// registration is dropped, and a new name can be tried.
    ///
    /// - Parameter serverOption: `--server`; else the pending registration's server, else
    ///   `registrationServer(nil, home:)`.
    /// - Returns: the identity, and whether an interrupted registration was completed.
    static func register(home: String, name: String, serverOption: String?,
                         verification: ServerVerification) async throws -> (record: SecureIdentityRecord, resumed: Bool) {
        let accountName: AccountName
        do { accountName = try AccountName(name) } catch { throw SecureClientFailure("invalid name \"\(name)\": \(error)") }
        try ClientHome.create(home)
        let store = try SQLiteSecureClientStore.open(path: databasePath(home: home))
        if let existing = try await store.read({ try $0.identity() }) {
            throw SecureClientFailure("this home is registered already as \(existing.name) (\(existing.account))")
        }
        let keys: AccountKeys
        let server: ServerAddress
        let pending = try await store.read { try $0.pendingRegistration() }
        if let pending {
            guard pending.name == name else {
                throw SecureClientFailure("the registration of \(pending.name) on this home was interrupted: run `sealpost register \(pending.name)` to complete it")
            }
            server = try serverOption.map { try registrationServer($0, home: home) }
                ?? ServerAddress(parsing: pending.server) ?? registrationServer(nil, home: home)
            keys = try await pendingKeys(pending, store: store)
        } else {
            server = try registrationServer(serverOption, home: home)
            keys = try AccountKeys.generate(signedPrekeyID: 1, oneTimePrekeyIDs: 1...UInt32(prekeyTarget))
            try await keepPending(keys, name: name, server: server, store: store)
        }
        dieIfAsked(at: .beforeRegister)
        let connection = try await SecureAccountConnection.connect(host: server.host, port: server.port, verification: verification)
        let account: AccountID
        do {
            account = try await registerOrDrop(accountName, keys: keys, resuming: pending != nil, on: connection, store: store)
        } catch {
            await connection.close()
            throw error
        }
        await connection.close()
        dieIfAsked(at: .afterRegister)
        let record = SecureIdentityRecord(account: account, name: name, server: server.description, identitySeed: keys.identitySeed,
                                          agreementPrivateKey: keys.identityAgreementPrivateKey)
        try await store.write { records in
            try records.saveIdentity(record)
            try records.deletePendingRegistration()
        }
        return (record, pending != nil)
    }

    /// Step 1: the new keys kept as a pending registration, with their prekeys and counters.
    private static func keepPending(_ keys: AccountKeys, name: String, server: ServerAddress, store: some SecureClientStore) async throws {
        let pending = SecurePendingRegistration(name: name, server: server.description, identitySeed: keys.identitySeed,
                                                agreementPrivateKey: keys.identityAgreementPrivateKey)
        let signed = keys.signedPrekey
        let oneTime = keys.oneTimePrekeys.map { (id: $0.id, privateKey: $0.privateKey) }
        let now = now()
        try await store.write { records in
            try records.savePendingRegistration(pending)
            try records.addSignedPrekey(id: signed.id, privateKey: signed.privateKey, now: now)
            try records.addOneTimePrekeys(oneTime)
            try records.setCounter("next_signed_prekey", to: 2)
            try records.setCounter("next_one_time_prekey", to: UInt64(prekeyTarget) + 1)
        }
    }

    /// The keys of a pending registration, as they were kept.
    private static func pendingKeys(_ pending: SecurePendingRegistration, store: some SecureClientStore) async throws -> AccountKeys {
        let (signed, oneTime) = try await store.read { records in
            (try records.signedPrekeys().first { $0.replacedAt == nil }, try records.oneTimePrekeys())
        }
        guard let signed else { throw SecureClientFailure("the interrupted registration of \(pending.name) lost its signed prekey: use a new home") }
        return try AccountKeys(
            identitySeed: pending.identitySeed, identityAgreementPrivateKey: pending.agreementPrivateKey,
            signedPrekey: .init(id: signed.id, privateKey: signed.privateKey),
            oneTimePrekeys: try oneTime.sorted { $0.key < $1.key }.map { try .init(id: $0.key, privateKey: $0.value) })
    }

    /// Step 2: REGISTER. The server answers a REGISTER again with the same keys with the
    /// account it made (§5.1); `nameTaken` when resuming means another identity took the name
    /// meanwhile: the pending registration is dropped.
    private static func registerOrDrop(_ name: AccountName, keys: AccountKeys, resuming: Bool, on connection: SecureAccountConnection,
                                       store: some SecureClientStore) async throws -> AccountID {
        do {
            return try await connection.register(
                name: name, signer: keys, signedPrekey: try keys.publicSignedPrekey(), oneTimePrekeys: try keys.publicOneTimePrekeys())
        } catch let error as AccountServerError where resuming && error.code == .nameTaken {
            try await store.write { records in
                try records.deletePendingRegistration()
                try records.deleteAllPrekeys()
            }
            throw SecureClientFailure("the name \(name.value) was taken by another account before this home's registration completed: register another name")
        }
    }

    private static func dieIfAsked(at step: RegistrationStep) {
        if ProcessInfo.processInfo.environment["SEALPOST_TEST_DIE_IN_REGISTER"] == step.rawValue { kill(getpid(), SIGKILL) }
    }
}
