import Adapters
import Application
import Domain
import Foundation
import Synchronization

extension SecureClient {
    // MARK: Contacts and trust

    /// The contact named `name`: kept here, else looked up on the server and pinned (first use).
    func contact(named name: String) async throws -> SecureContact {
        if let known = try await store.read({ try $0.contact(named: name) }) { return known }
        let accountName: AccountName
        do { accountName = try AccountName(name) } catch { throw SecureClientFailure("invalid name \"\(name)\": \(error)") }
        let account: Account
        do {
            account = try await connected().lookup(name: accountName)
        } catch let error as AccountServerError where error.code == .noSuchAccount {
            throw SecureClientFailure("no account named \(name) on \(server)")
        }
        guard account.id != identity.account else { throw SecureClientFailure("\(name) is this account") }
        return try await store.write { records in
            if var existing = try records.contact(id: account.id) {
                existing.name = name
                if existing.identity != account.identity, existing.changedIdentity == nil { existing.changedIdentity = account.identity }
                try records.saveContact(existing)
                return existing
            }
            let contact = SecureContact(account: account.id, name: name, identity: account.identity)
            try records.saveContact(contact)
            return contact
        }
    }

    /// The contact kept for `name`, or a failure in words.
    func knownContact(_ name: String) async throws -> SecureContact {
        guard let contact = try await store.read({ try $0.contact(named: name) }) else {
            throw SecureClientFailure("no contact named \(name): send it a message or receive one first")
        }
        return contact
    }

    /// The 60-digit safety number with `identity`, in 12 groups of 5.
    func safetyNumber(with account: AccountID, identity remote: IdentityKeys) throws -> String {
        let digits = try SafetyNumber.compute(local: (cipher.identity.publicKeys.signingKey, identity.account),
                                              remote: (remote.signingKey, account), crypto: crypto)
        return Self.grouped(digits)
    }

    static func grouped(_ digits: String) -> String {
        var groups: [String] = []
        var rest = Substring(digits)
        while !rest.isEmpty {
            groups.append(String(rest.prefix(5)))
            rest = rest.dropFirst(5)
        }
        return groups.joined(separator: " ")
    }

    /// The failure that stops a send to a contact whose key changed.
    func keyChangedFailure(_ contact: SecureContact) -> SecureClientFailure {
        let name = contact.name ?? contact.account.description
        let old = (try? safetyNumber(with: contact.account, identity: contact.identity)) ?? "?"
        let new = contact.changedIdentity.flatMap { try? safetyNumber(with: contact.account, identity: $0) } ?? "?"
        if contact.verified {
            return SecureClientFailure("key changed: the VERIFIED identity key of \(name) changed; nothing was sent. Old safety number \(old), new \(new). Verify the new number with \(name) in person, then run `sealpost verify \(name) NUMBER` or `sealpost trust \(name) --i-have-verified-the-new-number`")
        }
        return SecureClientFailure("key changed: the identity key of \(name) changed; nothing was sent. Old safety number \(old), new \(new). Compare it with \(name), then run `sealpost trust \(name)`")
    }

    /// Accepts the changed key of `name`: it becomes the pinned one, unverified, and the old
    /// session is retired (archived: what was sent on it still opens).
    func trust(_ name: String, verifiedNewNumber: Bool) async throws -> SecureContact {
        let contact = try await knownContact(name)
        guard let changed = contact.changedIdentity else { throw SecureClientFailure("the key of \(name) has not changed: nothing to trust") }
        if contact.verified, !verifiedNewNumber {
            throw SecureClientFailure("\(name) was verified and its key changed: verify the new number (`sealpost verify \(name) NUMBER`) or run `sealpost trust \(name) --i-have-verified-the-new-number`")
        }
        var updated = contact
        updated.identity = changed
        updated.changedIdentity = nil
        updated.verified = verifiedNewNumber && contact.verified
        let saved = updated
        try await store.write { records in
            try records.saveContact(saved)
            try Self.retireSession(with: saved.account, in: records)
        }
        return saved
    }

    /// Ends the current session with `peer` once its new key is trusted: the next message
    /// begins a new one, and messages already sent on the old one still open (it is archived).
    static func retireSession(with peer: AccountID, in records: any SecureClientRecords) throws {
        if let session = try records.session(with: peer) { try records.archiveSession(session) }
        try records.deleteSession(with: peer)
    }

    /// Marks `name` verified when `number` is its safety number (spaces ignored). When its key
    /// changed, a number that matches the new key trusts it and verifies it.
    func verify(_ name: String, number: String) async throws -> SecureContact {
        let contact = try await knownContact(name)
        let given = number.filter(\.isNumber)
        var updated = contact
        if let changed = contact.changedIdentity, try safetyNumber(with: contact.account, identity: changed).filter(\.isNumber) == given {
            updated.identity = changed
            updated.changedIdentity = nil
            updated.verified = true
            let saved = updated
            try await store.write { records in
                try records.saveContact(saved)
                try Self.retireSession(with: saved.account, in: records)
            }
            return saved
        }
        guard try safetyNumber(with: contact.account, identity: contact.identity).filter(\.isNumber) == given else {
            throw SecureClientFailure("the safety number does not match the one of \(name): not verified")
        }
        if contact.changedIdentity != nil { throw keyChangedFailure(contact) }
        updated.verified = true
        let saved = updated
        try await store.write { try $0.saveContact(saved) }
        return saved
    }
}
