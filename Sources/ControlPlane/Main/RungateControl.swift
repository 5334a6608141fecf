import ArgumentParser
import Common
import ControlPlane
import Foundation
import Hummingbird
import Logging
import PostgresNIO

@main
struct RungateControl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rungate-control",
        abstract: "Rungate control plane: the org API (/api) for owners, admins, members and viewers.",
        discussion: "Secrets come from the environment: RUNGATE_DATABASE_URL, RUNGATE_REDIS_URL, RUNGATE_MASTER_KEY.",
        subcommands: [Serve.self, Migrate.self, BootstrapCommand.self],
        defaultSubcommand: Serve.self)
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the control-plane API (default).")

    @OptionGroup var options: ServiceOptions

    @Option(help: "Port (env RUNGATE_CONTROL_PORT).")
    var port: Int = Env.int("RUNGATE_CONTROL_PORT") ?? 8081

    @Option(help: "Whether anyone may create an account with POST /api/auth/signup: true or false (env RUNGATE_SIGNUP_ENABLED).")
    var signupEnabled: Bool = Env.get("RUNGATE_SIGNUP_ENABLED").map { $0 == "true" || $0 == "1" } ?? true

    @Option(help: "Hours a sign-in session lasts (env RUNGATE_SESSION_HOURS).")
    var sessionHours: Int = Env.int("RUNGATE_SESSION_HOURS") ?? 168

    @Option(help: "Failed sign-ins per account per 15 minutes before sign-in pauses (env RUNGATE_LOGIN_FAILURES_PER_ACCOUNT).")
    var loginFailuresPerAccount: Int = Env.int("RUNGATE_LOGIN_FAILURES_PER_ACCOUNT") ?? 10

    @Option(help: "Sign-in attempts per client address per 15 minutes (env RUNGATE_LOGIN_ATTEMPTS_PER_ADDRESS).")
    var loginAttemptsPerAddress: Int = Env.int("RUNGATE_LOGIN_ATTEMPTS_PER_ADDRESS") ?? 100

    @Option(help: "Trust X-Forwarded-For from the peer (set only behind your own proxy) (env RUNGATE_TRUST_FORWARDED_FOR).")
    var trustForwardedFor: Bool = Env.get("RUNGATE_TRUST_FORWARDED_FOR").map { $0 == "true" || $0 == "1" } ?? false

    @Option(help: "Allow provider and webhook URLs on private or loopback addresses (demos, self-hosted models) (env RUNGATE_ALLOW_PRIVATE_URLS).")
    var allowPrivateURLs: Bool = Env.get("RUNGATE_ALLOW_PRIVATE_URLS").map { $0 == "true" || $0 == "1" } ?? false

    @Option(help: "Where people reach this control plane; the base of signed approval links (env RUNGATE_PUBLIC_URL).")
    var publicURL: String = Env.get("RUNGATE_PUBLIC_URL") ?? ""

    @Option(help: "Where security reports go, e.g. mailto:security@example.com (env RUNGATE_SECURITY_CONTACT).")
    var securityContact: String = Env.get("RUNGATE_SECURITY_CONTACT") ?? "mailto:security@rungate.dev"

    @Option(help: "Milliseconds between looks for webhook work (env RUNGATE_WEBHOOK_POLL_MS).")
    var webhookPollMilliseconds: Int = Env.int("RUNGATE_WEBHOOK_POLL_MS") ?? 1000

    @Option(help: "Seconds one webhook delivery attempt may take (env RUNGATE_WEBHOOK_TIMEOUT_SECONDS).")
    var webhookTimeoutSeconds: Int = Env.int("RUNGATE_WEBHOOK_TIMEOUT_SECONDS") ?? 10

    @Option(help: "Milliseconds before the first webhook retry; doubles per attempt, up to an hour (env RUNGATE_WEBHOOK_RETRY_BASE_MS).")
    var webhookRetryBaseMilliseconds: Int = Env.int("RUNGATE_WEBHOOK_RETRY_BASE_MS") ?? 10_000

    @Option(help: "Seconds after which an undelivered webhook is marked failed (env RUNGATE_WEBHOOK_GIVE_UP_SECONDS).")
    var webhookGiveUpSeconds: Int = Env.int("RUNGATE_WEBHOOK_GIVE_UP_SECONDS") ?? 86_400

    @Option(help: "OTLP/HTTP collector base URL for run traces, e.g. http://collector:4318 (env RUNGATE_OTLP_ENDPOINT).")
    var otlpEndpoint: String = Env.get("RUNGATE_OTLP_ENDPOINT") ?? ""

    @Option(help: "Seconds without a step after which a running run is exported (env RUNGATE_TRACE_IDLE_SECONDS).")
    var traceIdleSeconds: Int = Env.int("RUNGATE_TRACE_IDLE_SECONDS") ?? 300

    @Option(help: "Milliseconds between trace exports (env RUNGATE_TRACE_POLL_MS).")
    var tracePollMilliseconds: Int = Env.int("RUNGATE_TRACE_POLL_MS") ?? 5000

    func validate() throws {
        guard webhookPollMilliseconds >= 10, webhookTimeoutSeconds >= 1, webhookRetryBaseMilliseconds >= 10, webhookGiveUpSeconds >= 1,
              traceIdleSeconds >= 0, tracePollMilliseconds >= 10 else { throw ValidationError("webhook and trace settings must be positive") }
        if !otlpEndpoint.isEmpty, URL(string: otlpEndpoint)?.scheme.map({ ["http", "https"].contains($0) }) != true {
            throw ValidationError("--otlp-endpoint must be an http(s) URL")
        }
        guard sessionHours >= 1 else { throw ValidationError("--session-hours must be at least 1") }
        guard loginFailuresPerAccount >= 1, loginAttemptsPerAddress >= 1 else { throw ValidationError("login limits must be at least 1") }
    }

    func run() async throws {
        options.bootstrapLogging()
        let metrics = RungateMetrics.bootstrap()
        let logger = Logger(label: "rungate.control")
        let backing = try options.backingServices(applicationName: "rungate-control", logger: logger)
        let configuration = ControlPlaneConfiguration(
            host: options.host, port: port, keyring: try .fromEnvironment(), sessionLifetime: .seconds(sessionHours * 3600),
            signupEnabled: signupEnabled,
            loginLimits: .init(failuresPerAccount: loginFailuresPerAccount, attemptsPerAddress: loginAttemptsPerAddress),
            trustForwardedFor: trustForwardedFor, allowPrivateURLs: allowPrivateURLs, publicURL: publicURL.isEmpty ? nil : publicURL, securityContact: securityContact,
            webhooks: .init(pollInterval: .milliseconds(webhookPollMilliseconds), requestTimeout: .seconds(webhookTimeoutSeconds),
                            retryBase: .milliseconds(webhookRetryBaseMilliseconds), giveUpAfter: .seconds(webhookGiveUpSeconds)),
            traces: .init(endpoint: otlpEndpoint.isEmpty ? nil : otlpEndpoint, headers: Self.collectorHeaders(Env.get("RUNGATE_OTLP_HEADERS")), runIdleSeconds: traceIdleSeconds,
                          pollInterval: .milliseconds(tracePollMilliseconds)))
        try await buildControlPlane(configuration: configuration, backing: backing, metrics: metrics, logger: logger).runService()
    }
}

extension Serve {
    /// `RUNGATE_OTLP_HEADERS`: `name=value` pairs separated by commas (the collector's credentials
    /// live here, so they come from the environment only and are never logged).
    static func collectorHeaders(_ text: String?) -> [String: String] {
        var headers: [String: String] = [:]
        for pair in (text ?? "").split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.count == 2, !parts[0].isEmpty { headers[parts[0]] = parts[1] }
        }
        return headers
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply pending migrations (as the database owner), then exit. Safe to re-run.")

    @OptionGroup var options: ServiceOptions

    @Option(help: "Folder of NNNN_name.sql files (env RUNGATE_MIGRATIONS_DIR).")
    var migrationsDir: String = Env.get("RUNGATE_MIGRATIONS_DIR") ?? "migrations"

    func run() async throws {
        options.bootstrapLogging()
        let logger = Logger(label: "rungate.migrate")
        let migrations = try Migration.load(from: URL(fileURLWithPath: migrationsDir))
        try await options.withDatabase(applicationName: "rungate-migrate", logger: logger) { database in
            let applied = try await Migrator(client: database.client, logger: logger).migrate(migrations)
            logger.info("migrations done", metadata: ["applied": "\(applied)", "latest": "\(migrations.last?.version ?? 0)"])
        }
    }
}

struct BootstrapCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bootstrap",
        abstract: "Create the first org, its owner, an admin token and a demo agent; print the tokens once as env lines.")

    @OptionGroup var options: ServiceOptions

    @Option(help: "Org name.") var orgName = "Demo org"
    @Option(help: "Owner e-mail.") var ownerEmail = "owner@example.com"
    @Option(help: "Demo agent name.") var agentName = "demo-agent"
    @Option(help: "Base URL of the demo agent's provider (including the version path, e.g. …/v1).") var providerBaseURL = "http://127.0.0.1:9090/v1"

    func run() async throws {
        options.bootstrapLogging()
        let logger = Logger(label: "rungate.bootstrap")
        // The password and provider key come from the environment so they never appear in `ps`.
        guard let password = Env.get("RUNGATE_OWNER_PASSWORD") else {
            throw ValidationError("set RUNGATE_OWNER_PASSWORD (12 characters or more) for the first owner")
        }
        let providerKey = Env.get("RUNGATE_BOOTSTRAP_PROVIDER_KEY") ?? "mock-provider-key-0001"
        try await options.withDatabase(applicationName: "rungate-bootstrap", logger: logger) { database in
            let bootstrap = Bootstrap(database: database, dataKeys: PostgresDataKeyRepository(database: database, keyring: try .fromEnvironment()))
            let result = try await bootstrap.run(.init(
                orgName: orgName, ownerEmail: ownerEmail, ownerPassword: password, agentName: agentName,
                providerBaseURL: providerBaseURL, providerAPIKey: providerKey))
            print("RUNGATE_ORG_ID=\(result.orgID.lowercasedString)")
            print("RUNGATE_OWNER_EMAIL=\(ownerEmail)")
            print("RUNGATE_ADMIN_TOKEN=\(result.adminToken.value)")
            print("RUNGATE_AGENT_TOKEN=\(result.agentToken.value)")
        }
    }
}
