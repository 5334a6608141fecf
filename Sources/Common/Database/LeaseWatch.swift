import PostgresNIO
import Synchronization

/// One `Database.withConnection` call, as its watcher sees it: waiting for a connection, running on
/// one, or given up. Giving up and starting exclude each other, so work whose caller was told
/// "nothing was changed" never runs afterwards on the connection the pool hands it late.
final class LeaseWatch: Sendable {
    private enum Phase: UInt8 { case waiting, running, abandoned }

    private let phase = Atomic<UInt8>(Phase.waiting.rawValue)
    private let connection = Mutex<PostgresConnection?>(nil)

    /// Called with the leased connection before the work: false when the caller was already answered.
    func start(on connection: PostgresConnection) -> Bool {
        self.connection.withLock { $0 = connection }
        return phase.compareExchange(expected: Phase.waiting.rawValue, desired: Phase.running.rawValue, ordering: .acquiringAndReleasing).exchanged
    }

    /// Whether to stop waiting: still waiting for a connection while the database does not answer
    /// (the pool would hold the call until it does, or ~15 s), or running on a connection that has
    /// closed (a query postgres-nio lost there never completes).
    func shouldGiveUp(databaseReachable: Bool) -> Bool {
        if !databaseReachable,
           phase.compareExchange(expected: Phase.waiting.rawValue, desired: Phase.abandoned.rawValue, ordering: .acquiringAndReleasing).exchanged {
            return true
        }
        return connection.withLock { $0?.isClosed ?? false }
    }
}
