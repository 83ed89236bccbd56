// swift-tools-version:6.0
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "campaign-calls",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "campaign-coordinator", targets: ["campaign-coordinator"]),
        .executable(name: "campaign-agent", targets: ["campaign-agent"]),
        .executable(name: "campaign-ctl", targets: ["campaign-ctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/yaslab/CSV.swift.git", from: "2.5.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
    ],
    targets: [
        // Pure domain: no I/O, no NIO, no libpq.
        .target(name: "CampaignCore", swiftSettings: swiftSettings),
        // Wire types shared by coordinator, agent and ctl.
        // protocol/openrpc.json goes into it at build time (the EmbedOpenRPC plugin).
        .target(
            name: "CampaignProtocol", dependencies: ["CampaignCore"], swiftSettings: swiftSettings,
            plugins: ["EmbedOpenRPC"]),
        .plugin(
            name: "EmbedOpenRPC", capability: .buildTool(), dependencies: ["openrpc-embed"], path: "Sources/EmbedOpenRPC"),
        .executableTarget(name: "openrpc-embed", swiftSettings: swiftSettings),
        .systemLibrary(
            name: "CLibPQ", pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]),
        .systemLibrary(
            name: "CSystemd", pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]),
        // The only place for SQL.
        .target(
            name: "CampaignStore",
            dependencies: [
                "CampaignCore", "CampaignProtocol", "CLibPQ",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        // NIO transport: line framing, JSON-RPC server and client.
        .target(
            name: "CampaignRPC",
            dependencies: [
                "CampaignProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings),
        .target(
            name: "SystemdNotify",
            dependencies: [
                "CSystemd",
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings),
        // Prometheus metrics: the registry both daemons record into, and `GET /metrics`.
        .target(
            name: "CampaignMetrics",
            dependencies: [
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings),
        .target(
            name: "CampaignCoordinator",
            dependencies: [
                "CampaignCore", "CampaignProtocol", "CampaignStore", "CampaignRPC", "SystemdNotify", "CampaignMetrics",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings),
        .target(
            name: "CampaignAgentKit",
            dependencies: [
                "CampaignCore", "CampaignProtocol", "CampaignRPC", "SystemdNotify", "CampaignMetrics",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings),
        .target(
            name: "CampaignTestSupport",
            dependencies: [
                "CampaignStore", "CampaignProtocol", "CampaignRPC",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "campaign-coordinator",
            dependencies: [
                "CampaignCoordinator", "CampaignStore", "CampaignRPC", "SystemdNotify", "CampaignProtocol", "CampaignMetrics",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "campaign-agent",
            dependencies: [
                "CampaignAgentKit", "CampaignCore", "CampaignRPC", "SystemdNotify", "CampaignProtocol", "CampaignMetrics",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "campaign-ctl",
            dependencies: [
                "CampaignProtocol", "CampaignRPC",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "CSV", package: "CSV.swift"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(name: "CampaignCoreTests", dependencies: ["CampaignCore"], swiftSettings: swiftSettings),
        .testTarget(
            name: "CampaignCtlTests",
            dependencies: [
                "campaign-ctl", "CampaignProtocol", "CampaignCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "CampaignProtocolTests", dependencies: ["CampaignProtocol", "CampaignCore"],
            resources: [.copy("Fixtures")], swiftSettings: swiftSettings),
        .testTarget(
            name: "CampaignRPCTests",
            dependencies: [
                "CampaignRPC", "CampaignProtocol", "CampaignCore", "CampaignTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "CampaignStoreTests",
            dependencies: [
                "CampaignStore", "CampaignProtocol", "CampaignCore", "CampaignTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "CampaignIntegrationTests",
            dependencies: [
                "CampaignStore", "CampaignCoordinator", "CampaignRPC", "CampaignProtocol", "CampaignCore",
                "CampaignTestSupport", "CampaignMetrics",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "CampaignCoordinatorTests",
            dependencies: [
                "CampaignCoordinator", "CampaignCore", "CampaignProtocol", "CampaignStore", "CampaignTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "CampaignAgentTests",
            dependencies: [
                "CampaignAgentKit", "CampaignCore", "CampaignProtocol", "CampaignTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "CampaignEndToEndTests",
            dependencies: [
                "CampaignStore", "CampaignRPC", "CampaignProtocol", "CampaignCore", "CampaignTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
    ]
)
