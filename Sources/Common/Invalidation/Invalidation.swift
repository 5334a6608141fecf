import Foundation
import Logging
import PostgresNIO

/// A message telling every data-plane replica to drop cached state, sent with Postgres NOTIFY
/// in the same transaction as the change (a revoked token, a suspended org, a new policy pin),
/// so no replica can learn of it before it is committed, and none misses it after.
public enum Invalidation: Sendable, Equatable {
    case token(hash: String)
    case agent(UUID)
    case org(UUID)
    /// A run's state changed (ended, cancelled): sent by a trigger on `runs`.
    case run(UUID)
    /// Everything may have changed: sent by a listener to itself after reconnecting, since messages may
    /// have been missed. Caches mark every entry out of date (reloaded on next use).
    case all

    public static let channel = "rungate_invalidate"

    public var payload: String {
        switch self {
        case .token(let hash): "token:\(hash)"
        case .agent(let id): "agent:\(id.lowercasedString)"
        case .org(let id): "org:\(id.lowercasedString)"
        case .run(let id): "run:\(id.lowercasedString)"
        case .all: "all"
        }
    }

    public init?(payload: String) {
        if payload == "all" {
            self = .all
            return
        }
        let parts = payload.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return nil }
        switch parts[0] {
        case "token": self = .token(hash: parts[1])
        case "agent": guard let id = UUID(canonical: parts[1]) else { return nil }; self = .agent(id)
        case "org": guard let id = UUID(canonical: parts[1]) else { return nil }; self = .org(id)
        case "run": guard let id = UUID(canonical: parts[1]) else { return nil }; self = .run(id)
        default: return nil
        }
    }

    /// Queues the notification in the caller's transaction; delivered when it commits.
    public func publish(on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("SELECT pg_notify(\(Self.channel), \(payload))", logger: logger)
    }
}
