import NIOCore

/// Where and how to reach Redis, from a `redis://[:password@]host[:port][/db]` URL.
public struct RedisConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var password: String?
    public var database: Int
    /// Connections, each pipelining any number of commands. By default one per event loop of the
    /// process (one per core): each call uses its own loop's connection, and the commands a loop's
    /// calls send in one turn go out in one write — with two a loop, half as many met (governed
    /// calls at 32 connections: +9 % with one a loop, bench/RESULTS.md, session 36).
    public var poolSize: Int
    public var connectTimeout: Duration
    /// A command that takes longer fails rather than holding a request forever.
    public var commandTimeout: Duration

    public init(host: String, port: Int = 6379, password: String? = nil, database: Int = 0, poolSize: Int = NIOSingletons.groupLoopCountSuggestion,
                connectTimeout: Duration = .seconds(1), commandTimeout: Duration = .seconds(2)) {
        self.host = host
        self.port = port
        self.password = password
        self.database = database
        self.poolSize = poolSize
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
    }

    public init(url string: String) throws(ConfigurationError) {
        let url: ConnectionURL
        do { url = try ConnectionURL(string) } catch { throw ConfigurationError("RUNGATE_REDIS_URL: \(error)") }
        guard url.scheme == "redis" else { throw ConfigurationError("RUNGATE_REDIS_URL must start with redis://") }
        let database = url.path.isEmpty ? 0 : Int(url.path)
        guard let database else { throw ConfigurationError("RUNGATE_REDIS_URL: the path must be a database number") }
        self.init(host: url.host, port: url.port ?? 6379, password: url.password, database: database)
        if let size = url.query["pool_size"].flatMap(Int.init), size > 0 { poolSize = size }
    }
}
