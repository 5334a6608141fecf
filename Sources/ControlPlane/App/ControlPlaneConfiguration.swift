import Common
import Foundation

/// Settings of the control plane, filled from flags and environment by `rungate-control`, or directly by tests.
public struct ControlPlaneConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var keyring: MasterKeyring
    /// bcrypt cost for new password hashes (12 in production; tests lower it for speed).
    public var passwordHashCost: UInt8
    public var sessionLifetime: Duration
    public var invitationLifetime: Duration
    /// Whether anyone may create an account with POST /api/auth/signup.
    public var signupEnabled: Bool
    public var loginLimits: LoginThrottle.Limits
    /// How long a deleted org can still be restored.
    public var deletionGracePeriod: Duration
    /// How often the deletion job looks for orgs whose grace window has passed.
    public var deletionSweepInterval: Duration
    /// Whether the peer is a proxy whose `X-Forwarded-For` names the client (audit origin, sign-in limits).
    public var trustForwardedFor: Bool
    /// Whether provider base URLs and webhook URLs may point at private or loopback addresses
    /// (demos and self-hosting beside the provider); off, they are refused (SSRF).
    public var allowPrivateURLs: Bool
    /// The clock of org lifecycle decisions; tests move it forward.
    public var now: @Sendable () -> Date
    /// Where people reach this control plane (`RUNGATE_PUBLIC_URL`): the base of approval links.
    public var publicURL: String
    /// Where security reports go (`RUNGATE_SECURITY_CONTACT`), served in `/.well-known/security.txt`.
    public var securityContact: String
    public var webhooks: WebhookDeliverySettings
    public var traces: TraceExportSettings

    public init(
        host: String = "127.0.0.1", port: Int = 8081, keyring: MasterKeyring, passwordHashCost: UInt8 = 12,
        sessionLifetime: Duration = .seconds(7 * 24 * 3600), invitationLifetime: Duration = .seconds(7 * 24 * 3600),
        signupEnabled: Bool = true, loginLimits: LoginThrottle.Limits = .init(),
        deletionGracePeriod: Duration = .seconds(24 * 3600), deletionSweepInterval: Duration = .seconds(60),
        trustForwardedFor: Bool = false, allowPrivateURLs: Bool = false, now: @escaping @Sendable () -> Date = { Date() },
        publicURL: String? = nil, securityContact: String = "mailto:security@rungate.dev", webhooks: WebhookDeliverySettings = .init(),
        traces: TraceExportSettings = .init()
    ) {
        self.host = host
        self.port = port
        self.keyring = keyring
        self.passwordHashCost = passwordHashCost
        self.sessionLifetime = sessionLifetime
        self.invitationLifetime = invitationLifetime
        self.signupEnabled = signupEnabled
        self.loginLimits = loginLimits
        self.deletionGracePeriod = deletionGracePeriod
        self.deletionSweepInterval = deletionSweepInterval
        self.trustForwardedFor = trustForwardedFor
        self.allowPrivateURLs = allowPrivateURLs
        self.now = now
        self.publicURL = publicURL ?? "http://\(host):\(port)"
        self.securityContact = securityContact
        self.webhooks = webhooks
        self.traces = traces
    }
}

/// How the outbox reaches webhook receivers.
public struct WebhookDeliverySettings: Sendable {
    /// How often the worker looks for events and due deliveries.
    public var pollInterval: Duration
    /// The longest one delivery attempt may take (connect, send, answer).
    public var requestTimeout: Duration
    /// The first retry's delay; each further retry doubles it (with jitter), up to `retryCap`.
    public var retryBase: Duration
    public var retryCap: Duration
    /// After this long since it was queued, a delivery that never succeeded is marked failed.
    public var giveUpAfter: Duration
    /// Deliveries one worker attempts at once.
    public var batchSize: Int

    public init(pollInterval: Duration = .seconds(1), requestTimeout: Duration = .seconds(10), retryBase: Duration = .seconds(10),
                retryCap: Duration = .seconds(3600), giveUpAfter: Duration = .seconds(24 * 3600), batchSize: Int = 32) {
        self.pollInterval = pollInterval
        self.requestTimeout = requestTimeout
        self.retryBase = retryBase
        self.retryCap = retryCap
        self.giveUpAfter = giveUpAfter
        self.batchSize = batchSize
    }
}

/// Where and when runs are exported as OpenTelemetry traces (OTLP/HTTP, JSON encoding).
public struct TraceExportSettings: Sendable {
    /// The collector's OTLP/HTTP base URL (spans go to `<endpoint>/v1/traces`); nil: no export.
    public var endpoint: String?
    /// Headers for the collector (e.g. its auth), never logged.
    public var headers: [String: String]
    /// A running run is exported once it has had no step for this long; ended runs at once.
    public var runIdleSeconds: Int
    public var pollInterval: Duration
    /// Runs per export request, and steps per run per request: memory stays bounded.
    public var batchRuns: Int
    public var maxStepsPerRun: Int
    public var requestTimeout: Duration

    public init(endpoint: String? = nil, headers: [String: String] = [:], runIdleSeconds: Int = 300, pollInterval: Duration = .seconds(5),
                batchRuns: Int = 50, maxStepsPerRun: Int = 2000, requestTimeout: Duration = .seconds(10)) {
        self.endpoint = endpoint
        self.headers = headers
        self.runIdleSeconds = runIdleSeconds
        self.pollInterval = pollInterval
        self.batchRuns = batchRuns
        self.maxStepsPerRun = maxStepsPerRun
        self.requestTimeout = requestTimeout
    }
}

extension Date {
    static func + (date: Date, duration: Duration) -> Date {
        date.addingTimeInterval(TimeInterval(duration.components.seconds))
    }
}
