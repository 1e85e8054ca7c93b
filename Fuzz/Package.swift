// swift-tools-version:6.0
// libFuzzer targets for Sealpost's wire codec. A package of its own so that the root
// package's `swift build` stays free of sanitizer and unsafe flags. Its targets compile
// the project's own sources through symlinks (Sources/Domain, Sources/SeedWire), so the
// code fuzzed is exactly the code served. Build and run with `scripts/fuzz`.
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
        .target(
            name: "SeedWire",
            dependencies: ["Domain", .product(name: "NIOCore", package: "swift-nio")],
            path: "Sources/SeedWire",
            swiftSettings: fuzz),
        .executableTarget(
            name: "RequestDecoderFuzzer",
            dependencies: [
                "Domain", "SeedWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: fuzz,
            linkerSettings: [.unsafeFlags(["-sanitize=fuzzer,address"])]),
    ]
)
