// swift-tools-version:6.0
// libFuzzer targets for Sealpost's wire codec. A package of its own so that the root
// package's `swift build` stays free of sanitizer and unsafe flags. It depends on the root
// package by path and fuzzes its `SeedWire` library, the very target the server, the
// client and the load generator are built with. `scripts/fuzz` builds it with
// `-Xswiftc -sanitize=fuzzer,address`, so every Swift module of the build (SeedWire and
// Domain included) is instrumented; the harnesses add only `-parse-as-library`.
import PackageDescription

let harness: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]

let package = Package(
    name: "SealpostFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Sealpost", path: ".."),
        // The root package's version (Package.resolved there pins 2.101.3).
        .package(url: "https://github.com/apple/swift-nio", exact: "2.101.3"),
    ],
    targets: [
        // The libFuzzer entry point the harnesses share.
        .target(name: "FuzzDriver"),
        .executableTarget(
            name: "RequestDecoderFuzzer",
            dependencies: [
                "FuzzDriver",
                .product(name: "SeedWire", package: "Sealpost"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: harness,
            linkerSettings: [.unsafeFlags(["-sanitize=fuzzer,address"])]),
        .executableTarget(
            name: "ReplyParserFuzzer",
            dependencies: [
                "FuzzDriver",
                .product(name: "SeedWire", package: "Sealpost"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: harness,
            linkerSettings: [.unsafeFlags(["-sanitize=fuzzer,address"])]),
        .executableTarget(
            name: "V3FrameFuzzer",
            dependencies: [
                "FuzzDriver",
                .product(name: "SealpostWire", package: "Sealpost"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: harness,
            linkerSettings: [.unsafeFlags(["-sanitize=fuzzer,address"])]),
        // The end-to-end envelope's codec lives in Domain, which the SealpostWire product
        // carries: the very module the client parses DELIVERY envelopes with.
        .executableTarget(
            name: "E2EEnvelopeFuzzer",
            dependencies: [
                "FuzzDriver",
                .product(name: "SealpostWire", package: "Sealpost"),
            ],
            swiftSettings: harness,
            linkerSettings: [.unsafeFlags(["-sanitize=fuzzer,address"])]),
    ]
)
