import Adapters
@testable import Application
import Domain
import Testing

@Suite("RegisterAccount and AuthenticateAccount")
struct RegisterAccountTests {
    @Test("a registration with every signature right creates the account with its prekeys")
    func registers() async throws {
        let fixture = AccountFixture()
        let keys = try TestAccountKeys()
        let account = try await fixture.register(keys, "alice", prekeys: 7)
        #expect(account.name.value == "alice")
        #expect(account.identity == keys.identity)
        #expect(try await fixture.accounts.account(id: account.id) == account)
        #expect(try await fixture.accounts.oneTimePrekeyCount(of: account.id) == 7)
    }

    @Test("a bad identity-key signature, signed-prekey signature, one-time prekey signature or proof refuses it and stores nothing")
    func badSignatures() async throws {
        let fixture = AccountFixture()
        let keys = try TestAccountKeys()
        let other = try TestAccountKeys()
        let good = keys.registration(name: "alice", prekeys: 2, binding: AccountFixture.binding)
        let wrongIdentity = IdentityKeys(signingKey: keys.signingKey, agreementKey: good.identity.agreementKey,
                                         agreementKeySignature: other.sign(SignedStatement.identityKey(good.identity.agreementKey)))
        // A one-time prekey signed as a signed prekey: the context strings keep them apart.
        let crossContext = Prekey(id: 100, publicKey: good.oneTimePrekeys[0].publicKey,
                                  signature: keys.sign(SignedStatement.prekey(id: 100, key: good.oneTimePrekeys[0].publicKey, signed: true)))
        let otherBinding = ChannelBinding(nonce: [UInt8](repeating: 1, count: 32), certificateHash: AccountFixture.binding.certificateHash)
        let cases: [AccountRegistration] = [
            AccountRegistration(name: "alice", identity: wrongIdentity, signedPrekey: good.signedPrekey, oneTimePrekeys: good.oneTimePrekeys, proof: good.proof, unsignedBody: good.unsignedBody),
            AccountRegistration(name: "alice", identity: good.identity, signedPrekey: other.prekey(id: 1, signed: true), oneTimePrekeys: good.oneTimePrekeys, proof: good.proof, unsignedBody: good.unsignedBody),
            AccountRegistration(name: "alice", identity: good.identity, signedPrekey: good.signedPrekey, oneTimePrekeys: [crossContext], proof: good.proof, unsignedBody: good.unsignedBody),
            keys.registration(name: "alice", prekeys: 2, binding: otherBinding),
            AccountRegistration(name: "alice", identity: good.identity, signedPrekey: good.signedPrekey, oneTimePrekeys: good.oneTimePrekeys, proof: good.proof, unsignedBody: good.unsignedBody + [0]),
        ]
        for registration in cases {
            await #expect { try await fixture.useCases.register(registration, binding: AccountFixture.binding) } throws: { error in
                if case AccountRequestError.badSignature = error { true } else { false }
            }
        }
        #expect(try await fixture.accounts.account(named: AccountName("alice")) == nil)
    }

    @Test("invalid names, a taken name, a prekey id twice, and more than 100 prekeys are refused")
    func refusals() async throws {
        let fixture = AccountFixture()
        let keys = try TestAccountKeys()
        try await fixture.register(keys, "alice")
        for name in ["a", " alice", "bob\u{7}", String(repeating: "x", count: 65)] {
            await #expect { try await fixture.register(try TestAccountKeys(), name) } throws: { error in
                if case AccountRequestError.invalidName = error { true } else { false }
            }
        }
        await #expect(throws: AccountRequestError.nameTaken) { try await fixture.register(try TestAccountKeys(), "alice") }
        let twice = try TestAccountKeys()
        let base = twice.registration(name: "carol", prekeys: 1, binding: AccountFixture.binding)
        let duplicated = AccountRegistration(name: "carol", identity: base.identity, signedPrekey: base.signedPrekey,
                                             oneTimePrekeys: base.oneTimePrekeys + twice.oneTimePrekeys([100]), proof: base.proof, unsignedBody: base.unsignedBody)
        await #expect(throws: AccountRequestError.duplicatePrekey(100)) { try await fixture.useCases.register(duplicated, binding: AccountFixture.binding) }
        await #expect { try await fixture.register(try TestAccountKeys(), "dave", prekeys: 101) } throws: { error in
            if case AccountRequestError.tooManyPrekeys = error { true } else { false }
        }
    }

    @Test("authentication needs the account's own key over this connection's nonce and certificate hash")
    func authenticates() async throws {
        let fixture = AccountFixture()
        let alice = try TestAccountKeys()
        let bob = try TestAccountKeys()
        let aliceAccount = try await fixture.register(alice, "alice", prekeys: 3)
        let bobAccount = try await fixture.register(bob, "bob")
        let (account, left) = try await fixture.useCases.authenticate(account: aliceAccount.id, signature: alice.authentication(aliceAccount.id), binding: AccountFixture.binding)
        #expect(account == aliceAccount)
        #expect(left == 3)
        // B's key cannot open A's session.
        await #expect(throws: AccountRequestError.authenticationFailed) {
            try await fixture.useCases.authenticate(account: aliceAccount.id, signature: bob.authentication(aliceAccount.id), binding: AccountFixture.binding)
        }
        // A transcript from another connection (another nonce) or through another certificate fails.
        let replayed = alice.authentication(aliceAccount.id)
        for binding in [ChannelBinding(nonce: [UInt8](repeating: 9, count: 32), certificateHash: AccountFixture.binding.certificateHash),
                        ChannelBinding(nonce: AccountFixture.binding.nonce, certificateHash: [UInt8](repeating: 9, count: 32))] {
            await #expect(throws: AccountRequestError.authenticationFailed) {
                try await fixture.useCases.authenticate(account: aliceAccount.id, signature: replayed, binding: binding)
            }
        }
        // A signature over another account's id does not open that account, nor this one.
        await #expect(throws: AccountRequestError.authenticationFailed) {
            try await fixture.useCases.authenticate(account: bobAccount.id, signature: alice.authentication(aliceAccount.id), binding: AccountFixture.binding)
        }
        let unknown = AccountID(bytes: [UInt8](repeating: 0x77, count: 16))!
        await #expect(throws: AccountRequestError.authenticationFailed) {
            try await fixture.useCases.authenticate(account: unknown, signature: alice.authentication(unknown), binding: AccountFixture.binding)
        }
    }
}
