import Domain

// The values that hold private keys, chain keys or message keys print no bytes: an accidental
// "\(session)" in a log line, or `dump`, shows who the session is with and nothing secret.

extension EndToEndSession: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "EndToEndSession(with: \(HexBytes.encode(remoteAccount)), keys redacted)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}

extension RatchetState: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "RatchetState(sent: \(sendCount), received: \(receiveCount), skipped: \(skipped.count), keys redacted)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}

extension LocalIdentity: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "LocalIdentity(\(account), private keys redacted)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}

extension PrekeyPrivateKeys: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "PrekeyPrivateKeys(signed: \(signed.keys.sorted()), one-time: \(oneTime.count), keys redacted)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}
