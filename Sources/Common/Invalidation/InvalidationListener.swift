import Logging
import PostgresNIO
import ServiceLifecycle

/// Listens for `Invalidation`s on a dedicated Postgres connection and hands each to `handler`.
///
/// After every (re)connect it first delivers `.all`, because notifications sent while it was
/// disconnected are lost; caches then refill from the database. While it is disconnected, entries
/// are trusted for their TTL only (or, while PostgreSQL does not answer at all, until it does).
public struct InvalidationListener: Service {
    let configuration: PostgresConnection.Configuration
    let logger: Logger
    let handler: @Sendable (Invalidation) -> Void

    public init(databaseURL: String, logger: Logger, handler: @escaping @Sendable (Invalidation) -> Void) throws {
        self.configuration = try .init(url: databaseURL, applicationName: "rungate-invalidation-listener")
        self.logger = logger
        self.handler = handler
    }

    public func run() async throws {
        var attempt = 0
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            do {
                let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
                attempt = 0
                do {
                    try await cancelWhenGracefulShutdown {
                        try await connection.listen(on: Invalidation.channel) { notifications in
                            handler(.all)
                            for try await notification in notifications {
                                if let invalidation = Invalidation(payload: notification.payload) { handler(invalidation) }
                            }
                        }
                    }
                    try? await connection.close()
                } catch {
                    try? await connection.close()
                    throw error
                }
            } catch {
                if Task.isCancelled || Task.isShuttingDownGracefully { return }
                attempt += 1
                // Caches are kept meanwhile: while PostgreSQL is away they are what lets calls go on,
                // and past their TTL they reload whenever it answers; on reconnect every entry is
                // marked out of date (a notification may have been missed).
                logger.warning("invalidation listener disconnected; cached entries are reloaded after it reconnects",
                               metadata: ["attempt": "\(attempt)", "error.type": "\(type(of: error))"])
            }
            await sleepUnlessShuttingDown(for: .milliseconds(min(200 * (1 << min(attempt, 5)), 5_000)))
        }
    }
}
