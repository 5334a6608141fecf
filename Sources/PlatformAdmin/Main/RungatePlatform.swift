import ArgumentParser
import Common
import Foundation
import Hummingbird
import Logging
import PlatformAdmin
import PostgresNIO

@main
struct RungatePlatform: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rungate-platform",
        abstract: "Rungate platform admin: account administration for platform staff (rg_platform_ tokens only).",
        discussion: "Connect with the platform database role (RUNGATE_DATABASE_URL), which cannot read customer run data.",
        subcommands: [Serve.self, CreateToken.self],
        defaultSubcommand: Serve.self)
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the platform-admin API (default).")

    @OptionGroup var options: ServiceOptions

    @Option(help: "Port (env RUNGATE_PLATFORM_PORT).")
    var port: Int = Env.int("RUNGATE_PLATFORM_PORT") ?? 8082

    @Option(help: "Comma-separated networks allowed to call the API, e.g. 10.0.0.0/8,192.0.2.7 (env RUNGATE_PLATFORM_ALLOWED_NETWORKS; empty: any).")
    var allowedNetworks: String = Env.get("RUNGATE_PLATFORM_ALLOWED_NETWORKS") ?? ""

    var networks: [IPNetwork] {
        allowedNetworks.split(separator: ",").compactMap { IPNetwork(String($0)) }
    }

    func validate() throws {
        let entries = allowedNetworks.split(separator: ",").filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        guard entries.count == networks.count else { throw ValidationError("--allowed-networks holds an entry that is not an address or CIDR network") }
    }

    func run() async throws {
        options.bootstrapLogging()
        let metrics = RungateMetrics.bootstrap()
        let logger = Logger(label: "rungate.platform")
        let backing = try options.backingServices(applicationName: "rungate-platform", logger: logger)
        try await buildPlatformAdmin(configuration: .init(host: options.host, port: port, allowedNetworks: networks), backing: backing,
                                     metrics: metrics, logger: logger)
            .runService()
    }
}

struct CreateToken: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create-token", abstract: "Issue a platform token; it is printed once and only its hash is stored.")

    @OptionGroup var options: ServiceOptions

    @Option(help: "A name for the token (who or what uses it).") var name: String
    @Option(help: "Days until it expires (none if omitted).") var expiresInDays: Int?

    func run() async throws {
        options.bootstrapLogging()
        let logger = Logger(label: "rungate.platform")
        try await options.withDatabase(applicationName: "rungate-platform-cli", logger: logger) { database in
            let operator_ = ProcessInfo.processInfo.environment["USER"] ?? "cli"
            let issued = try await PlatformTokenStore(database: database).create(
                name: name, createdBy: "cli:\(operator_)", origin: "cli",
                expiresAt: expiresInDays.map { Date().addingTimeInterval(Double($0) * 86_400) })
            print("RUNGATE_PLATFORM_TOKEN=\(issued.token.value)")
        }
    }
}
