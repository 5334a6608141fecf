import Foundation

/// A parsed `scheme://[user[:password]@]host[:port][/path][?query]` URL for Postgres and Redis.
///
/// `description` never shows the password, so a URL can be logged safely.
public struct ConnectionURL: Sendable, CustomStringConvertible {
    public var scheme: String
    public var user: String?
    public var password: String?
    public var host: String
    public var port: Int?
    public var path: String
    public var query: [String: String]

    public init(_ string: String) throws(ConfigurationError) {
        guard let components = URLComponents(string: string), let scheme = components.scheme,
              let host = components.host, !host.isEmpty
        else { throw ConfigurationError("not a valid URL (expected scheme://user:password@host:port/name)") }
        self.scheme = scheme
        self.user = components.user?.removingPercentEncoding ?? components.user
        self.password = components.password?.removingPercentEncoding ?? components.password
        self.host = host
        self.port = components.port
        self.path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        self.query = Dictionary(
            (components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { _, last in last })
    }

    public var description: String {
        let credentials = user.map { "\($0)\(password == nil ? "" : ":***")@" } ?? ""
        return "\(scheme)://\(credentials)\(host)\(port.map { ":\($0)" } ?? "")/\(path)"
    }
}

/// A configuration value is missing or malformed. Says which and how to fix it; never echoes secrets.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
