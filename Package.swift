// swift-tools-version:6.1
import PackageDescription

// Settings shared by every target. Declared before `package` so they apply.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .unsafeFlags(["-cross-module-optimization"], .when(configuration: .release)),
]

let package = Package(
    name: "rungate",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "rungate-data", targets: ["RungateDataMain"]),
        .executable(name: "rungate-control", targets: ["RungateControlMain"]),
        .executable(name: "rungate-platform", targets: ["RungatePlatformMain"]),
        .executable(name: "rungate-mock-provider", targets: ["MockProviderMain"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
    ],
    targets: [
        // libhiredis (Debian's libhiredis-dev) for Redis: its reader parses replies read from NIO channels.
        .systemLibrary(
            name: "CHiredis",
            path: "Sources/CHiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        // libzstd (Debian's libzstd-dev) compresses stored payloads before they are sealed.
        .systemLibrary(
            name: "CZstd",
            path: "Sources/CZstd",
            providers: [.apt(["libzstd-dev"])]
        ),
        .target(
            name: "Common",
            dependencies: [
                "CHiredis",
                "CZstd",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                // Only for `ConnectionPoolError`, which PostgresClient throws unwrapped when its
                // circuit breaker is open (already built: PostgresNIO depends on it).
                .product(name: "_ConnectionPoolModule", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            path: "Sources/Common",
            swiftSettings: swiftSettings
        ),

        // MARK: Data plane (agents, port 8080)
        .target(
            name: "DataPlane",
            dependencies: [
                "Common",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
            ],
            path: "Sources/DataPlane/App",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "RungateDataMain",
            dependencies: ["DataPlane", "Common", "CConcurrencyHook", "CHugeText", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio")],
            path: "Sources/DataPlane/Main",
            swiftSettings: swiftSettings
        ),
        // Sets the concurrency runtime's global-executor hook by reference (see its header).
        .target(name: "CConcurrencyHook", path: "Sources/CConcurrencyHook"),
        // Maps the data plane's code with 2 MB pages (see its header).
        .target(name: "CHugeText", path: "Sources/CHugeText"),

        // MARK: Control plane (org users and admin tokens, port 8081)
        .target(
            name: "ControlPlane",
            dependencies: [
                "Common",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            path: "Sources/ControlPlane/App",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "RungateControlMain",
            dependencies: ["ControlPlane", "Common"],
            path: "Sources/ControlPlane/Main",
            swiftSettings: swiftSettings
        ),

        // MARK: Platform admin (platform staff, port 8082)
        .target(
            name: "PlatformAdmin",
            dependencies: ["Common", .product(name: "Hummingbird", package: "hummingbird")],
            path: "Sources/PlatformAdmin/App",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "RungatePlatformMain",
            dependencies: ["PlatformAdmin", "Common"],
            path: "Sources/PlatformAdmin/Main",
            swiftSettings: swiftSettings
        ),

        // MARK: Mock LLM provider (tests, demo, benchmarks)
        .target(
            name: "MockProvider",
            dependencies: [
                "Common",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            path: "Sources/MockProvider/App",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "MockProviderMain",
            dependencies: ["MockProvider", "Common"],
            path: "Sources/MockProvider/Main",
            swiftSettings: swiftSettings
        ),

        // MARK: Tests
        .target(
            name: "TestSupport",
            dependencies: [
                "Common", "DataPlane", "ControlPlane", "PlatformAdmin",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            path: "Sources/TestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CommonTests",
            dependencies: [
                "Common", "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Tests/CommonTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "Common", "DataPlane", "ControlPlane", "PlatformAdmin", "MockProvider", "TestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/IntegrationTests",
            swiftSettings: swiftSettings
        ),
    ]
)
