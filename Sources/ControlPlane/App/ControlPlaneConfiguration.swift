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

    public init(
        host: String = "127.0.0.1", port: Int = 8081, keyring: MasterKeyring, passwordHashCost: UInt8 = 12,
        sessionLifetime: Duration = .seconds(7 * 24 * 3600), invitationLifetime: Duration = .seconds(7 * 24 * 3600),
        signupEnabled: Bool = true, loginLimits: LoginThrottle.Limits = .init(),
        deletionGracePeriod: Duration = .seconds(24 * 3600), deletionSweepInterval: Duration = .seconds(60),
        trustForwardedFor: Bool = false, allowPrivateURLs: Bool = false, now: @escaping @Sendable () -> Date = { Date() }
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
    }
}

extension Date {
    static func + (date: Date, duration: Duration) -> Date {
        date.addingTimeInterval(TimeInterval(duration.components.seconds))
    }
}
