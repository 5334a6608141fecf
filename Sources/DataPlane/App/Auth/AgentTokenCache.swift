import Common
import Foundation

/// Principals by token hash, so most calls authenticate without a database round trip.
///
/// Entries are fresh for `timeToLive`; an `Invalidation` (token revoked, agent or org changed)
/// removes them at once on every replica, and the TTL bounds staleness should a notification be
/// lost. While PostgreSQL does not answer, a known token keeps authenticating from its last entry.
public final class AgentTokenCache: Sendable {
    private let principals: ReadThroughCache<String, AgentPrincipal>

    /// `health`: while it says PostgreSQL does not answer, known tokens authenticate from memory alone.
    public init(timeToLive: Duration = .seconds(30), capacity: Int = 100_000, health: DatabaseHealth? = nil) {
        principals = ReadThroughCache(name: "agent_tokens", timeToLive: timeToLive, capacity: capacity,
                                      reachable: { health?.isReachable ?? true })
    }

    /// The principal of `tokenHash`, from memory or `load` (nil: unknown, expired or revoked).
    func principal(tokenHash: String, load: @escaping @Sendable () async throws -> AgentPrincipal?) async throws -> AgentPrincipal? {
        try await principals.value(for: tokenHash, load: load)
    }

    public func apply(_ invalidation: Invalidation) {
        switch invalidation {
        case .all: principals.expireAll()
        case .token(let hash): principals.remove(hash)
        case .agent(let id): principals.removeAll { $1.agentID == id }
        case .org(let id): principals.removeAll { $1.orgID == id }
        case .run: break
        }
    }
}
