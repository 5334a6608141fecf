import Foundation
import NIOSSL
import PostgresNIO

/// The parts of a `postgres://` URL both a pooled client and a single connection need.
///
/// `sslmode=disable` turns TLS off (loopback deployments); otherwise TLS is preferred, and
/// `sslmode=require` demands it. `pool_size` sets the pool's maximum number of connections.
struct PostgresURL {
    var host: String
    var port: Int
    var user: String
    var password: String?
    var database: String
    var sslMode: String
    var poolSize: Int?

    init(_ string: String) throws(ConfigurationError) {
        let url: ConnectionURL
        do { url = try ConnectionURL(string) } catch { throw ConfigurationError("RUNGATE_DATABASE_URL: \(error)") }
        guard url.scheme == "postgres" || url.scheme == "postgresql" else {
            throw ConfigurationError("RUNGATE_DATABASE_URL must start with postgres://")
        }
        guard let user = url.user else { throw ConfigurationError("RUNGATE_DATABASE_URL has no user name") }
        host = url.host
        port = url.port ?? 5432
        self.user = user
        password = url.password
        database = url.path.isEmpty ? user : url.path
        sslMode = url.query["sslmode"] ?? "prefer"
        poolSize = url.query["pool_size"].flatMap(Int.init).flatMap { $0 > 0 ? $0 : nil }
    }
}

extension PostgresClient.Configuration {
    /// Builds a pooled client's configuration from a `postgres://` URL.
    public init(url string: String, applicationName: String) throws(ConfigurationError) {
        let url = try PostgresURL(string)
        let tls: PostgresClient.Configuration.TLS
        switch url.sslMode {
        case "disable": tls = .disable
        case "require", "verify-full", "verify-ca": tls = .require(.makeClientConfiguration())
        default: tls = .prefer(.makeClientConfiguration())
        }
        self.init(host: url.host, port: url.port, username: url.user, password: url.password, database: url.database, tls: tls)
        if let size = url.poolSize { options.maximumConnections = size }
        options.connectTimeout = .seconds(5)
        options.additionalStartupParameters = [("application_name", applicationName)]
    }
}

extension PostgresConnection.Configuration {
    /// Builds a single connection's configuration (for LISTEN) from a `postgres://` URL.
    public init(url string: String, applicationName: String) throws(ConfigurationError) {
        let url = try PostgresURL(string)
        let tls: PostgresConnection.Configuration.TLS
        do {
            switch url.sslMode {
            case "disable": tls = .disable
            case "require", "verify-full", "verify-ca": tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            default: tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
        } catch {
            throw ConfigurationError("could not set up TLS for the database connection")
        }
        self.init(host: url.host, port: url.port, username: url.user, password: url.password, database: url.database, tls: tls)
        options.connectTimeout = .seconds(5)
        options.additionalStartupParameters = [("application_name", applicationName)]
    }
}
