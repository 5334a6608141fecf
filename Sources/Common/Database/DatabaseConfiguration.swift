import Foundation
import PostgresNIO

extension PostgresClient.Configuration {
    /// Builds a client configuration from a `postgres://` URL.
    ///
    /// `sslmode=disable` turns TLS off (loopback deployments); otherwise TLS is preferred, and
    /// `sslmode=require` demands it. `pool_size` sets the maximum number of connections.
    public init(url string: String, applicationName: String) throws(ConfigurationError) {
        let url: ConnectionURL
        do { url = try ConnectionURL(string) } catch { throw ConfigurationError("RUNGATE_DATABASE_URL: \(error)") }
        guard url.scheme == "postgres" || url.scheme == "postgresql" else {
            throw ConfigurationError("RUNGATE_DATABASE_URL must start with postgres://")
        }
        guard let user = url.user else { throw ConfigurationError("RUNGATE_DATABASE_URL has no user name") }
        let tls: PostgresClient.Configuration.TLS
        switch url.query["sslmode"] ?? "prefer" {
        case "disable": tls = .disable
        case "require", "verify-full", "verify-ca": tls = .require(.makeClientConfiguration())
        default: tls = .prefer(.makeClientConfiguration())
        }
        self.init(host: url.host, port: url.port ?? 5432, username: user, password: url.password,
                  database: url.path.isEmpty ? user : url.path, tls: tls)
        if let size = url.query["pool_size"].flatMap(Int.init), size > 0 {
            options.maximumConnections = size
        }
        options.connectTimeout = .seconds(5)
        options.additionalStartupParameters = [("application_name", applicationName)]
    }
}
