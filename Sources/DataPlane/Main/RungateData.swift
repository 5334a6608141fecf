import ArgumentParser
import CHugeText
import Common
import DataPlane
import Hummingbird
import Logging

struct RungateData: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rungate-data",
        abstract: "Rungate data plane: the governed proxy agents call with rg_agt_ tokens.",
        discussion: "Secrets come from the environment: RUNGATE_DATABASE_URL, RUNGATE_REDIS_URL, RUNGATE_MASTER_KEY.")

    @OptionGroup var options: ServiceOptions

    @Option(help: "Port (env RUNGATE_DATA_PORT).")
    var port: Int = Env.int("RUNGATE_DATA_PORT") ?? 8080

    @Option(help: "Largest request body accepted, in bytes (env RUNGATE_MAX_BODY_BYTES).")
    var maxBodyBytes: Int = Env.int("RUNGATE_MAX_BODY_BYTES") ?? 8 * 1024 * 1024

    @Option(help: "Seconds a provider may stay silent mid-answer before the call fails with 504 (env RUNGATE_UPSTREAM_READ_TIMEOUT_SECONDS).")
    var upstreamReadTimeoutSeconds: Int = Env.int("RUNGATE_UPSTREAM_READ_TIMEOUT_SECONDS") ?? 120

    @Option(help: "Seconds a whole provider call may take, streams included (env RUNGATE_UPSTREAM_REQUEST_TIMEOUT_SECONDS).")
    var upstreamRequestTimeoutSeconds: Int = Env.int("RUNGATE_UPSTREAM_REQUEST_TIMEOUT_SECONDS") ?? 600

    @Option(help: "Seconds between batched writes of agent tokens' last_used_at (env RUNGATE_TOKEN_USAGE_FLUSH_SECONDS).")
    var tokenUsageFlushSeconds: Int = Env.int("RUNGATE_TOKEN_USAGE_FLUSH_SECONDS") ?? 5

    @Option(help: "When Redis is unreachable, let rate limits pass instead of refusing with 503: true or false (env RUNGATE_RATE_LIMITS_FAIL_OPEN). Budgets never fail open.")
    var rateLimitsFailOpen: Bool = Env.get("RUNGATE_RATE_LIMITS_FAIL_OPEN").map { $0 == "true" || $0 == "1" } ?? false

    @Option(help: "Seconds an approval request waits for a decision before it expires (env RUNGATE_APPROVAL_TTL_SECONDS).")
    var approvalTTLSeconds: Int = Env.int("RUNGATE_APPROVAL_TTL_SECONDS") ?? 3600

    @Option(help: "Seconds a budget reservation holds if its call never settles (a killed process); default the request timeout plus 60 (env RUNGATE_RESERVATION_LEASE_SECONDS).")
    var reservationLeaseSeconds: Int = Env.int("RUNGATE_RESERVATION_LEASE_SECONDS") ?? 0

    @Option(help: "Folder where steps go past the memory buffer while PostgreSQL is away, and survive a crash; `none` keeps them in memory only (env RUNGATE_SPOOL_DIR).")
    var spoolDir: String = Env.get("RUNGATE_SPOOL_DIR") ?? "rungate-spool"

    @Option(help: "Bytes of unwritten steps held in memory before they are spooled on disk (env RUNGATE_STEP_BUFFER_BYTES).")
    var stepBufferBytes: Int = Env.int("RUNGATE_STEP_BUFFER_BYTES") ?? 64 << 20

    @Option(help: "Milliseconds between batched writes of recorded steps (env RUNGATE_STEP_FLUSH_MS).")
    var stepFlushMilliseconds: Int = Env.int("RUNGATE_STEP_FLUSH_MS") ?? 250

    func run() async throws {
        try await run(concurrencyOnEventLoops: false, requested: false)
    }

    func run(concurrencyOnEventLoops: Bool, requested: Bool) async throws {
        options.bootstrapLogging()
        let metrics = RungateMetrics.bootstrap()
        let logger = Logger(label: "rungate.data")
        if requested && !concurrencyOnEventLoops {
            // Correct either way, only slower: say so rather than lose the speed silently.
            logger.warning("Swift concurrency could not be moved onto NIO's event loops (the runtime's hook is not visible); running on Swift's own thread pool")
        }
        // Done by a constructor before the runtime started (CHugeText); -1 in builds without 2 MB alignment.
        logger.debug("code marked for 2 MB pages", metadata: ["stretches": "\(rungate_huge_text_stretches())"])
        let backing = try options.backingServices(applicationName: "rungate-data", logger: logger)
        let configuration = DataPlaneConfiguration(
            host: options.host, port: port, keyring: try .fromEnvironment(), maxBodyBytes: maxBodyBytes,
            upstreamReadTimeout: .seconds(Int64(upstreamReadTimeoutSeconds)), upstreamRequestTimeout: .seconds(Int64(upstreamRequestTimeoutSeconds)),
            tokenUsageFlushInterval: .seconds(max(tokenUsageFlushSeconds, 1)), failOpenRateLimits: rateLimitsFailOpen,
            approvalTimeToLive: .seconds(max(approvalTTLSeconds, 1)),
            reservationLease: reservationLeaseSeconds > 0 ? .seconds(reservationLeaseSeconds) : nil,
            spoolDirectory: spoolDir == "none" ? nil : spoolDir, stepBufferBytes: stepBufferBytes,
            stepFlushInterval: .milliseconds(min(max(stepFlushMilliseconds, 10), 10_000)))
        try await buildDataPlane(configuration: configuration, backing: backing, metrics: metrics, logger: logger).runService()
    }
}
