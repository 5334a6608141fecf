import Common
import Foundation
import Synchronization

/// Principals by token hash, so most calls authenticate without a database round trip.
///
/// Entries live `timeToLive` at most; an `Invalidation` (token revoked, agent or org changed)
/// removes them at once on every replica, and the TTL bounds staleness should a notification be lost.
public final class AgentTokenCache: Sendable {
    private struct Entry {
        let principal: AgentPrincipal
        let expires: ContinuousClock.Instant
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let timeToLive: Duration
    private let capacity: Int

    public init(timeToLive: Duration = .seconds(30), capacity: Int = 100_000) {
        self.timeToLive = timeToLive
        self.capacity = capacity
    }

    public func get(_ tokenHash: String) -> AgentPrincipal? {
        let now = ContinuousClock.now
        return entries.withLock { entries in
            guard let entry = entries[tokenHash] else { return nil }
            guard entry.expires > now else {
                entries[tokenHash] = nil
                return nil
            }
            return entry.principal
        }
    }

    public func put(_ principal: AgentPrincipal) {
        let expires = ContinuousClock.now + timeToLive
        entries.withLock { entries in
            // A full cache is simply emptied: it refills from the database, and the bound holds.
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[principal.tokenHash] = Entry(principal: principal, expires: expires)
        }
    }

    public func apply(_ invalidation: Invalidation) {
        entries.withLock { entries in
            switch invalidation {
            case .all: entries.removeAll()
            case .token(let hash): entries[hash] = nil
            case .agent(let id): entries = entries.filter { $0.value.principal.agentID != id }
            case .org(let id): entries = entries.filter { $0.value.principal.orgID != id }
            }
        }
    }
}
