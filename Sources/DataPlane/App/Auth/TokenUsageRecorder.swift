import Common
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Keeps `agent_tokens.last_used_at` current without a write per call.
///
/// Authentication only notes the token id in a set; a loop writes the set every `interval` in one
/// UPDATE. `last_used_at` is therefore accurate to about `interval`, which is what it is for (spotting
/// unused tokens to revoke). A failed write keeps the ids for the next round; shutdown writes what is left.
public final class TokenUsageRecorder: Service, Sendable {
    private let repository: any AgentRepository
    private let logger: Logger
    private let interval: Duration
    private let writeDeadline: Duration
    private let used = Mutex<Set<UUID>>([])

    public init(repository: any AgentRepository, logger: Logger, interval: Duration = .seconds(5), writeDeadline: Duration = .seconds(10)) {
        self.repository = repository
        self.logger = logger
        self.interval = interval
        self.writeDeadline = writeDeadline
    }

    public func noteUse(of tokenID: UUID) {
        _ = used.withLock { $0.insert(tokenID) }
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            await sleepUnlessShuttingDown(for: interval)
            await flush()
        }
        await flush()
    }

    public func flush() async {
        let batch = used.withLock { used -> [UUID] in
            defer { used.removeAll(keepingCapacity: true) }
            return Array(used)
        }
        guard !batch.isEmpty else { return }
        do {
            // A query postgres-nio lost never returns: past the deadline it is left behind and retried.
            let repository = self.repository
            try await withDeadline(writeDeadline) { try await repository.markUsed(tokenIDs: batch) }
        } catch {
            used.withLock { $0.formUnion(batch) }
            logger.warning("recording token use failed; will retry", metadata: ["count": "\(batch.count)", "error": "\(String(reflecting: error))"])
        }
    }
}
