/// Request codes of the seed protocol (docs/protocol-v2.md §3).
public enum SeedRequestCode: UInt8, Sendable, CaseIterable {
    case register = 100
    case listClients = 101
    case publicKey = 102
    case send = 103
    case pull = 104
}

/// Response codes of the seed protocol.
public enum SeedResponseCode: UInt16, Sendable, CaseIterable {
    case registered = 1000
    case clients = 1001
    case publicKey = 1002
    case sent = 1003
    case messages = 1004
    /// The protocol's only failure reply; its payload is empty.
    case failure = 9000
}

/// Fixed sizes of the seed protocol.
public enum SeedWire {
    /// The version byte the server writes; the original server always writes 2.
    public static let serverVersion: UInt8 = 2
    /// client id (16) + version (1) + code (1) + payload size (4).
    public static let requestHeaderSize = 22
    /// version (1) + code (2) + payload size (4).
    public static let responseHeaderSize = 7
    /// name field (255) + public key (160).
    public static let registerPayloadSize = 415
    /// recipient (16) + type (1) + content size (4).
    public static let sendHeaderSize = 21
    /// sender (16) + message id (4) + type (1) + content size (4).
    public static let messageEntryHeaderSize = 25
}
