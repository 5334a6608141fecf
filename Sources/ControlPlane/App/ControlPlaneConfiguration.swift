import Common

/// Settings of the control plane, filled from flags and environment by `rungate-control`, or directly by tests.
public struct ControlPlaneConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var keyring: MasterKeyring

    public init(host: String = "127.0.0.1", port: Int = 8081, keyring: MasterKeyring) {
        self.host = host
        self.port = port
        self.keyring = keyring
    }
}
