@testable import Application
import Domain

/// One side of a conversation in the tests: a cipher, its session with the other side, and
/// (for Bob) its prekeys, updated only from what `open`/`seal` return, as a client would.
struct E2EPeer {
    let cipher: EndToEndCipher
    var session: EndToEndSession?
    var prekeys: PrekeyPrivateKeys
    var now: UInt64 = 1_700_000_000_000

    init(_ cipher: EndToEndCipher, session: EndToEndSession? = nil, prekeys: PrekeyPrivateKeys = PrekeyPrivateKeys()) {
        self.cipher = cipher
        self.session = session
        self.prekeys = prekeys
    }

    mutating func send(_ text: String) throws -> [UInt8] {
        var current = session!
        let bytes = try cipher.seal(.text(text), session: &current)
        session = current
        return bytes
    }

    /// Opens `bytes` from `sender`, persisting the session and deleting a used one-time prekey.
    @discardableResult
    mutating func receive(_ bytes: [UInt8], from sender: AccountID) throws(EndToEndError) -> MessageContent {
        let opened = try cipher.open(bytes, authenticatedSender: sender, session: session, prekeys: prekeys, now: now)
        session = opened.session
        if let used = opened.usedOneTimePrekeyID { prekeys.oneTime[used] = nil }
        return opened.content
    }
}

extension E2EFixture {
    /// Alice with a session started from Bob's bundle, and Bob with his prekeys and no session.
    func peers(oneTime: Bool = true) throws -> (alice: E2EPeer, bob: E2EPeer) {
        let session = try aliceCipher.startSession(with: try bobBundle(oneTime: oneTime))
        return (E2EPeer(aliceCipher, session: session), E2EPeer(bobCipher, prekeys: bobPrekeys))
    }
}
