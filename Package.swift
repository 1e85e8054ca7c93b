// swift-tools-version:6.0
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "Sealpost",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sealpost", targets: ["Bootstrap"]),
        // The protocol v2 codec alone, for the fuzzers in Fuzz/ (which depend on this
        // package by path and build this very target, instrumented).
        .library(name: "SeedWire", targets: ["SeedWire", "Domain"]),
        // The protocol v3 codec alone, for the v3 fuzzer.
        .library(name: "SealpostWire", targets: ["SealpostWire", "Domain"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        // TLS 1.3 for protocol v3's channel (BoringSSL, symbol-prefixed: it coexists with
        // the OpenSSL libcrypto that the end-to-end cryptography and certificates use).
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // Innermost ring: pure values and rules. No I/O, no third-party modules.
        .target(name: "Domain", swiftSettings: strict),
        // Use cases and the ports they drive. Depends on Domain only.
        .target(name: "Application", dependencies: ["Domain"], swiftSettings: strict),
        // The protocol v2 codec: the one request encoder, request decoder, reply encoder
        // and reply parser. Depends on Domain and NIOCore only.
        .target(
            name: "SeedWire",
            dependencies: ["Domain", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strict
        ),
        // The protocol v3 codec (docs/protocol-v3.md): frames, requests, server messages,
        // and the bytes each signature signs. Depends on Domain and NIOCore only.
        .target(
            name: "SealpostWire",
            dependencies: ["Domain", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strict
        ),
        // System libraries reached through module maps.
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        // epoll and eventfd for the server's TCP transport (Linux headers, no library).
        .systemLibrary(name: "CLinuxNet"),
        // Dropping root on every thread, the one dispatch_main() parks included (serve --user).
        .target(name: "CThreadCredentials"),
        // Technology: TCP transport, stores, crypto.
        .target(
            name: "Adapters",
            dependencies: [
                "Domain", "Application", "SeedWire", "SealpostWire", "CLibPQ", "COpenSSL", "CLinuxNet",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The load generator and benchmark workloads behind `sealpost bench`: clients of
        // the v2 protocol over blocking sockets, and of protocol v3 and MQTT 3.1.1 over
        // TLS on SwiftNIO (the push benchmark), kept out of the composition root.
        .target(
            name: "Bench",
            dependencies: [
                "Domain", "Application", "Adapters", "SeedWire", "SealpostWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // Composition root and the `sealpost` executable.
        .executableTarget(
            name: "Bootstrap",
            dependencies: [
                "Domain", "Application", "Adapters", "Bench", "SeedWire", "CThreadCredentials",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "DomainTests", dependencies: ["Domain", "Application", "Adapters"], swiftSettings: strict),
        // The use cases over the in-memory adapters and a manual clock: no sockets.
        .testTarget(name: "ApplicationTests", dependencies: ["Domain", "Application", "Adapters"], swiftSettings: strict),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "Domain", "Application", "Adapters", "SeedWire", "SealpostWire", "Bench",
                // The v3 client's own types (`@testable import Bootstrap`), driven in process.
                "Bootstrap",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                // To build databases as older releases left them, for the upgrade tests.
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strict
        ),
    ]
)
