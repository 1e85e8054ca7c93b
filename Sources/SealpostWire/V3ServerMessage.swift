import Domain
import NIOCore

/// The server's frame types (docs/protocol-v3.md §3).
public enum V3ServerFrameType: UInt8, Sendable {
    case hello = 0x40
    case result = 0x41
    case error = 0x42
    case delivery = 0x43
    case notice = 0x44

    /// Types a client skips when it does not know them.
    public static let ignorable: ClosedRange<UInt8> = 0x60...0x7F
}

/// HELLO (§3.2): the first frame of every connection.
public struct V3Hello: Hashable, Sendable {
    public static let nonceSize = 32
    public var version: UInt16
    public var nonce: [UInt8]
    public var maxFrameBytes: UInt32
    public var maxEnvelopeBytes: UInt32
    public var maxInFlight: UInt16
    public var deliveryWindow: UInt16
    public var authTimeoutSeconds: UInt16
    public var idleTimeoutSeconds: UInt16

    public init(version: UInt16 = 3, nonce: [UInt8], maxFrameBytes: UInt32 = V3Frame.defaultMaxLength, maxEnvelopeBytes: UInt32 = 65_536,
                maxInFlight: UInt16 = 256, deliveryWindow: UInt16 = 256, authTimeoutSeconds: UInt16 = 10, idleTimeoutSeconds: UInt16 = 300) {
        self.version = version
        self.nonce = nonce
        self.maxFrameBytes = maxFrameBytes
        self.maxEnvelopeBytes = maxEnvelopeBytes
        self.maxInFlight = maxInFlight
        self.deliveryWindow = deliveryWindow
        self.authTimeoutSeconds = authTimeoutSeconds
        self.idleTimeoutSeconds = idleTimeoutSeconds
    }
}

/// The error codes of ERROR (§3.3).
public enum V3ErrorCode: UInt16, Sendable, CaseIterable {
    case malformed = 1
    case unknownRequest = 2
    case notAuthenticated = 3
    case alreadyAuthenticated = 4
    case authenticationFailed = 5
    case nameTaken = 6
    case invalidName = 7
    case badSignature = 8
    case noSuchAccount = 9
    case tooLarge = 10
    case rateLimited = 11
    case inboxFull = 12
    case tooManyPrekeys = 13
    case directoryClosed = 14
    case duplicatePrekey = 15
    case unavailable = 16
    case noSuchAttachment = 17
    case wrongOffset = 18
    case attachmentIncomplete = 19
}

/// An ERROR body. `code` stays a number so that a code added later still decodes.
public struct V3Error: Error, Hashable, Sendable {
    public var code: UInt16
    public var retryAfterMilliseconds: UInt32
    public var message: String

    public init(_ code: V3ErrorCode, retryAfterMilliseconds: UInt32 = 0, message: String) {
        self.init(rawCode: code.rawValue, retryAfterMilliseconds: retryAfterMilliseconds, message: message)
    }

    public init(rawCode: UInt16, retryAfterMilliseconds: UInt32, message: String) {
        self.code = rawCode
        self.retryAfterMilliseconds = retryAfterMilliseconds
        self.message = message
    }

    /// The known code, or `nil` for one this codec does not know.
    public var knownCode: V3ErrorCode? { V3ErrorCode(rawValue: code) }
}

/// DELIVERY (§6.1).
public struct V3Delivery: Hashable, Sendable {
    public var messageID: UInt64
    public var sender: AccountID
    public var serverTime: UInt64
    public var envelope: ByteBuffer

    public init(messageID: UInt64, sender: AccountID, serverTime: UInt64, envelope: ByteBuffer) {
        self.messageID = messageID
        self.sender = sender
        self.serverTime = serverTime
        self.envelope = envelope
    }
}

/// NOTICE (§6.3).
public enum V3Notice: Hashable, Sendable {
    /// Kind 1: the account has `count` one-time prekeys left.
    case prekeysLow(count: UInt16)
    /// Kind 2, no body: every message that waited for this session has been delivered on it
    /// (sent once per session, after those DELIVERY frames).
    case caughtUp
    /// A kind this codec does not know: to be ignored.
    case unknown(kind: UInt16)
}

/// A frame from the server, decoded as far as it can be without knowing which request a
/// RESULT answers (`V3Result.decode(answering:body:)` does the rest).
public enum V3ServerMessage: Hashable, Sendable {
    case hello(V3Hello)
    case result(requestID: UInt32, body: ByteBuffer)
    case error(requestID: UInt32, V3Error)
    case delivery(V3Delivery)
    case notice(V3Notice)
    /// A type in the ignorable range: skipped.
    case ignored(type: UInt8)

    /// Decodes a server frame.
    ///
    /// - Parameter maxEnvelope: the largest envelope accepted in a DELIVERY (a server that
    ///   pushes a larger one is refused, not believed).
    public static func decode(_ frame: V3Frame, maxEnvelope: UInt32) throws -> V3ServerMessage {
        guard let type = V3ServerFrameType(rawValue: frame.type) else {
            if V3ServerFrameType.ignorable.contains(frame.type) { return .ignored(type: frame.type) }
            throw V3WireError.unknownFrameType(frame.type)
        }
        if type == .hello || type == .delivery || type == .notice, frame.requestID != 0 {
            // These answer no request (§3): a request id here is a malformed frame.
            throw V3WireError.invalidField("a \(type) frame carries request id 0, not \(frame.requestID)")
        }
        var reader = V3BodyReader(frame.body)
        let message: V3ServerMessage
        switch type {
        case .hello:
            message = .hello(V3Hello(
                version: try reader.u16("version"), nonce: try reader.fixed(V3Hello.nonceSize, "nonce"),
                maxFrameBytes: try reader.u32("maxFrameBytes"), maxEnvelopeBytes: try reader.u32("maxEnvelopeBytes"),
                maxInFlight: try reader.u16("maxInFlight"), deliveryWindow: try reader.u16("deliveryWindow"),
                authTimeoutSeconds: try reader.u16("authTimeoutSeconds"), idleTimeoutSeconds: try reader.u16("idleTimeoutSeconds")))
        case .result:
            return .result(requestID: frame.requestID, body: frame.body)
        case .error:
            message = .error(requestID: frame.requestID, V3Error(
                rawCode: try reader.u16("code"), retryAfterMilliseconds: try reader.u32("retryAfter"), message: try reader.string16("message")))
        case .delivery:
            message = .delivery(V3Delivery(
                messageID: try reader.u64("message id"), sender: try reader.account("sender"),
                serverTime: try reader.u64("server time"), envelope: try reader.bytes32("envelope", limit: maxEnvelope)))
        case .notice:
            let kind = try reader.u16("notice kind")
            switch kind {
            case 1:
                message = .notice(.prekeysLow(count: try reader.u16("count")))
            case 2:
                message = .notice(.caughtUp)
            default:
                // Unknown kinds carry a body this codec cannot read; it is skipped whole.
                return .notice(.unknown(kind: kind))
            }
        }
        try reader.finish()
        return message
    }

    /// Appends the message as one frame. A `.result` is written with its body as given.
    public func write(into buffer: inout ByteBuffer) {
        switch self {
        case .hello(let hello):
            V3Frame.write(type: V3ServerFrameType.hello.rawValue, requestID: 0, into: &buffer) { body in
                body.writeInteger(hello.version)
                body.writeBytes(hello.nonce)
                body.writeInteger(hello.maxFrameBytes)
                body.writeInteger(hello.maxEnvelopeBytes)
                body.writeInteger(hello.maxInFlight)
                body.writeInteger(hello.deliveryWindow)
                body.writeInteger(hello.authTimeoutSeconds)
                body.writeInteger(hello.idleTimeoutSeconds)
            }
        case .result(let requestID, let result):
            V3Frame(type: V3ServerFrameType.result.rawValue, requestID: requestID, body: result).write(into: &buffer)
        case .error(let requestID, let error):
            V3Frame.write(type: V3ServerFrameType.error.rawValue, requestID: requestID, into: &buffer) { body in
                body.writeInteger(error.code)
                body.writeInteger(error.retryAfterMilliseconds)
                body.writeString16(error.message)
            }
        case .delivery(let delivery):
            V3Frame.write(type: V3ServerFrameType.delivery.rawValue, requestID: 0, into: &buffer) { body in
                body.writeInteger(delivery.messageID)
                body.writeBytes(delivery.sender.bytes)
                body.writeInteger(delivery.serverTime)
                body.writeBytes32(delivery.envelope)
            }
        case .notice(let notice):
            V3Frame.write(type: V3ServerFrameType.notice.rawValue, requestID: 0, into: &buffer) { body in
                switch notice {
                case .prekeysLow(let count):
                    body.writeInteger(UInt16(1))
                    body.writeInteger(count)
                case .caughtUp:
                    body.writeInteger(UInt16(2))
                case .unknown(let kind):
                    body.writeInteger(kind)
                }
            }
        case .ignored(let type):
            V3Frame(type: type, requestID: 0, body: ByteBuffer()).write(into: &buffer)
        }
    }
}
