import Common
import NIOCore

/// Settings of the data plane, filled from flags and environment by `rungate-data`, or directly by tests.
public struct DataPlaneConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var keyring: MasterKeyring
    /// Largest request body accepted from an agent (413 above it).
    public var maxBodyBytes: Int
    /// How long a provider may stay silent mid-answer before the call fails with 504.
    public var upstreamReadTimeout: TimeAmount
    /// Longest a whole provider call may take, streams included.
    public var upstreamRequestTimeout: TimeAmount
    /// Upper bound on how long a cached token stays valid if a revocation notice were lost.
    public var tokenCacheTimeToLive: Duration
    /// How often `agent_tokens.last_used_at` is written (batched, one UPDATE per interval).
    public var tokenUsageFlushInterval: Duration
    /// Whether rate limits let calls through while Redis is unreachable (default: refuse with 503).
    /// Budgets never fail open.
    public var failOpenRateLimits: Bool
    /// How long an approval request waits for a decision before it expires.
    public var approvalTimeToLive: Duration
    /// How long a budget reservation holds if its call never settles (this process died mid-call);
    /// by default a minute longer than any call may take, so a live call's reservation never lapses.
    public var reservationLease: Duration
    /// Where unwritten steps go past `stepBufferBytes` while PostgreSQL is away (nil: memory only).
    public var spoolDirectory: String?
    /// Bytes of unwritten steps held in memory before they are spooled on disk.
    public var stepBufferBytes: Int
    /// How often recorded steps are written, in one batch (a step appears in PostgreSQL about this
    /// long after its call). Each batch is a transaction: at low traffic a short interval means a
    /// transaction for every call or two (250 ms against 50 ms: ~25 % less CPU per call at ~35 calls/s).
    public var stepFlushInterval: Duration

    public init(
        host: String = "127.0.0.1", port: Int = 8080, keyring: MasterKeyring, maxBodyBytes: Int = 8 * 1024 * 1024,
        upstreamReadTimeout: TimeAmount = .seconds(120), upstreamRequestTimeout: TimeAmount = .seconds(600),
        tokenCacheTimeToLive: Duration = .seconds(30), tokenUsageFlushInterval: Duration = .seconds(5), failOpenRateLimits: Bool = false,
        approvalTimeToLive: Duration = .seconds(3600), reservationLease: Duration? = nil, spoolDirectory: String? = nil,
        stepBufferBytes: Int = 64 << 20, stepFlushInterval: Duration = .milliseconds(250)
    ) {
        self.host = host
        self.port = port
        self.keyring = keyring
        self.maxBodyBytes = maxBodyBytes
        self.upstreamReadTimeout = upstreamReadTimeout
        self.upstreamRequestTimeout = upstreamRequestTimeout
        self.tokenCacheTimeToLive = tokenCacheTimeToLive
        self.tokenUsageFlushInterval = tokenUsageFlushInterval
        self.failOpenRateLimits = failOpenRateLimits
        self.approvalTimeToLive = approvalTimeToLive
        self.reservationLease = reservationLease ?? Duration(upstreamRequestTimeout) + .seconds(60)
        self.spoolDirectory = spoolDirectory
        self.stepBufferBytes = stepBufferBytes
        self.stepFlushInterval = stepFlushInterval
    }
}
