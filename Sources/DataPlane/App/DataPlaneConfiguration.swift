import Common

/// Settings of the data plane, filled from flags and environment by `rungate-data`, or directly by tests.
public struct DataPlaneConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var keyring: MasterKeyring
    /// Largest request body accepted from an agent (413 above it).
    public var maxBodyBytes: Int

    public init(host: String = "127.0.0.1", port: Int = 8080, keyring: MasterKeyring, maxBodyBytes: Int = 8 * 1024 * 1024) {
        self.host = host
        self.port = port
        self.keyring = keyring
        self.maxBodyBytes = maxBodyBytes
    }
}
