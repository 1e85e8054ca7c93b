// swift-tools-version:6.0
// libFuzzer targets for Sealpost's wire codec. A package of its own so that the root
// package's `swift build` stays free of sanitizer and unsafe flags. Its targets compile
// the project's own sources through symlinks, so the code fuzzed is exactly the code
// served: Sources/Domain, Sources/Application, and in SeedWire the project's
// Sources/Adapters/Wire/SeedV2 plus the client's reply readers from
// Sources/Adapters/Transport/TCPClient (SeedReplyReader, SeedPullReader). Build and run
// with `scripts/fuzz`.
import PackageDescription

let fuzz: [SwiftSetting] = [.unsafeFlags(["-sanitize=fuzzer,address", "-parse-as-library"])]

let package = Package(
    name: "SealpostFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        // The root package's version (Package.resolved there pins 2.101.3).
        .package(url: "https://github.com/apple/swift-nio", exact: "2.101.3"),
    ],
    targets: [
        .target(name: "Domain", path: "Sources/Domain", swiftSettings: fuzz),
        .target(name: "Application", dependencies: ["Domain"], path: "Sources/Application", swiftSettings: fuzz),
        .target(
            name: "SeedWire",
            dependencies: ["Domain", "Application", .product(name: "NIOCore", package: "swift-nio")],
            path: "Sources/SeedWire",
            // The reply readers are internal to the project's Adapters module; the reply
            // fuzzer reaches them with `@testable import`.
            swiftSettings: fuzz + [.unsafeFlags(["-enable-testing"])]),
        .executableTarget(
            name: "RequestDecoderFuzzer",
            dependencies: [
                "Domain", "SeedWire",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: fuzz,
            linkerSettings: [.unsafeFlags(["-sanitize=fuzzer,address"])]),
        .executableTarget(
            name: "ReplyParserFuzzer",
            dependencies: [
                "Domain", "Application", "SeedWire",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: fuzz,
            linkerSettings: [.unsafeFlags(["-sanitize=fuzzer,address"])]),
    ]
)
