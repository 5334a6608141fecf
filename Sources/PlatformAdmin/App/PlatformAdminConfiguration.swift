/// Settings of the platform-admin service, filled by `rungate-platform`, or directly by tests.
public struct PlatformAdminConfiguration: Sendable {
    public var host: String
    public var port: Int

    public init(host: String = "127.0.0.1", port: Int = 8082) {
        self.host = host
        self.port = port
    }
}
