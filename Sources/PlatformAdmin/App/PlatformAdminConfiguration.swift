/// Settings of the platform-admin service, filled by `rungate-platform`, or directly by tests.
public struct PlatformAdminConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// When not empty, only clients in these networks may call the platform API.
    public var allowedNetworks: [IPNetwork]
    /// How long the first-owner invitation of a new org stays valid.
    public var invitationLifetime: Duration

    public init(host: String = "127.0.0.1", port: Int = 8082, allowedNetworks: [IPNetwork] = [], invitationLifetime: Duration = .seconds(7 * 86_400)) {
        self.host = host
        self.port = port
        self.allowedNetworks = allowedNetworks
        self.invitationLifetime = invitationLifetime
    }
}
