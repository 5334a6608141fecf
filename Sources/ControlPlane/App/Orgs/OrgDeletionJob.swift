import Common
import Foundation
import Logging
import ServiceLifecycle

/// Deletes orgs whose deletion grace window has passed: every org-owned row and the wrapped data
/// key (crypto-shred), one org per transaction, through `rungate_purge_org` (migration 0004).
public struct OrgDeletionJob: Service {
    let database: Database
    let orgs: any OrgRepository
    let interval: Duration
    let now: @Sendable () -> Date
    let logger: Logger

    public init(database: Database, orgs: any OrgRepository, interval: Duration, now: @escaping @Sendable () -> Date, logger: Logger) {
        self.database = database
        self.orgs = orgs
        self.interval = interval
        self.now = now
        self.logger = logger
    }

    public func run() async throws {
        await repeatUntilShutdown(every: interval, deadline: .seconds(600), logger: logger, failure: "org deletion sweep failed") {
            _ = try await runOnce()
            return false
        }
    }

    /// One sweep; returns the ids of the orgs it purged.
    @discardableResult
    public func runOnce() async throws -> [UUID] {
        let at = now()
        let due = try await database.transaction { connection in try await orgs.dueForDeletion(at: at, on: connection) }
        var purged: [UUID] = []
        for orgID in due {
            let done = try await database.withOrg(orgID) { connection in
                let done = try await orgs.purge(orgID, at: at, on: connection)
                if done { try await Invalidation.org(orgID).publish(on: connection, logger: logger) }
                return done
            }
            if done {
                purged.append(orgID)
                logger.notice("org purged after its deletion grace window", metadata: ["org_id": "\(orgID)"])
            }
        }
        return purged
    }
}
