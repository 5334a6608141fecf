import Common
import Foundation

/// The runs calls attach to, resolved without a database round trip on the request path.
///
/// A call without `x-rungate-run-id` starts a run here: its id is made up, and the run is written
/// with the next step batch, before its steps. A call naming a run this replica knows is answered
/// from memory; an unknown one is resolved in PostgreSQL (created there on first use, its commit
/// not waiting for the disk: the run goes again with its first step's batch, durably) and
/// remembered. A run's state changing anywhere reaches every replica by notification (the `runs`
/// trigger), and entries are refreshed after `timeToLive` — from then on the steps and tokens
/// other replicas recorded count too, and the ones this replica recorded but has not written yet
/// still do (a run's counts never go down on a reload). While PostgreSQL does not answer, known
/// runs and new ones keep working; only an unknown run id is refused.
public final class RunDirectory: Sendable {
    struct Entry: Sendable {
        var handle: RunHandle
        let orgID: UUID
        let agentID: UUID
        /// When the run started, if it started here and may not be written yet: it is written on
        /// demand before anything refers to it. (The run itself is rebuilt from the entry rather
        /// than kept: at ~90 bytes it made the runs cache's entries 40 % larger, and its tables —
        /// moved whole when one doubles — as much.)
        var unwrittenSince: Date?

        /// The run as `recorder.start` queued it, while it may not be written yet.
        var unwritten: NewRun? {
            unwrittenSince.map { NewRun(id: handle.id, orgID: orgID, agentID: agentID, policyID: handle.policyID,
                                        policyVersion: handle.policyVersion, startedAt: $0) }
        }
    }

    private let repository: any RunRepository
    private let recorder: StepRecorder
    let entries: ReadThroughCache<UUID, Entry>

    public init(repository: any RunRepository, recorder: StepRecorder, health: DatabaseHealth?, timeToLive: Duration = .seconds(30)) {
        self.repository = repository
        self.recorder = recorder
        // Most runs are short: one not asked for in two to four minutes is let go (asked again, it is
        // reloaded), sooner when more than 50 k runs a generation start here.
        self.entries = ReadThroughCache(name: "runs", timeToLive: timeToLive, retention: .seconds(120),
                                        reachable: { health?.isReachable ?? true }, merge: { Self.reloaded(cached: $0, loaded: $1) })
        // Run ceilings (steps, tokens) see this replica's steps as they are recorded.
        recorder.observe { [entries] step in
            // The update captures the count, not the step (a copy of the whole record per call).
            let tokens = step.usage.input + step.usage.output
            entries.update(step.runID) { entry in
                entry.handle.stepCount += 1
                entry.handle.tokens += tokens
            }
        }
    }

    /// A run's entry as reloaded over the one cached: the row's state, and its counts or the cached
    /// ones, whichever are higher. The row has none of the steps still queued here (written with
    /// the next batch), nor those recorded while it was being read; the cached counts have none
    /// of the other replicas' since the last load. Both undercount, neither overcounts: the larger
    /// is the closer, and the run ceilings (steps, tokens) never forget a step this replica saw.
    static func reloaded(cached: Entry, loaded: Entry) -> Entry {
        var entry = loaded
        entry.handle.stepCount = max(loaded.handle.stepCount, cached.handle.stepCount)
        entry.handle.tokens = max(loaded.handle.tokens, cached.handle.tokens)
        return entry
    }

    /// The run `id` of this agent (created on first use under `policy`, else the agent's pin), or a
    /// new run when `id` is nil.
    public func resolve(id: UUID?, principal: AgentPrincipal, policy: (id: UUID, version: Int)?) async throws -> RunHandle {
        guard let id else {
            let run = NewRun(id: UUID.timeOrdered(), orgID: principal.orgID, agentID: principal.agentID,
                             policyID: policy?.id ?? principal.policyID, policyVersion: policy?.version ?? principal.policyVersion)
            var handle = RunHandle(id: run.id, status: .running, created: false, policyID: run.policyID, policyVersion: run.policyVersion)
            entries.put(Entry(handle: handle, orgID: principal.orgID, agentID: principal.agentID, unwrittenSince: run.startedAt), for: run.id)
            recorder.start(run)
            handle.created = true
            return handle
        }
        let repository = self.repository
        let entry: Entry?
        do {
            entry = try await entries.value(for: id) { [recorder] in
                let handle = try await repository.resolve(id: id, principal: principal, policy: policy, metadata: [:], commit: .rewrittenWithSteps)
                if handle.created {
                    recorder.start(NewRun(id: id, orgID: principal.orgID, agentID: principal.agentID, policyID: handle.policyID,
                                          policyVersion: handle.policyVersion))
                }
                return Entry(handle: handle, orgID: principal.orgID, agentID: principal.agentID, unwrittenSince: nil)
            }
        } catch let error as RungateError {
            throw error
        } catch {
            throw RungateError.dependencyUnavailable("database")
        }
        // Another agent's run behaves exactly like one that does not exist.
        guard let entry, entry.orgID == principal.orgID, entry.agentID == principal.agentID else {
            throw RungateError.notFound("Run \(id.lowercasedString)")
        }
        // The call that created the run is told so (its run budgets start from nothing, without
        // a look-up); the calls after it are not.
        if entry.handle.created { entries.update(id) { $0.handle.created = false } }
        return entry.handle
    }

    /// Writes the run now if this replica started it and may not have written it yet — before a
    /// row that refers to it (an approval) or a read of it (the agent asking for its run).
    public func ensureWritten(_ id: UUID) async throws {
        guard let run = entries.cached(id)?.unwritten else { return }
        try await repository.create(run)
        entries.update(id) { $0.unwrittenSince = nil }
    }

    /// The run's state as this replica last knew it changed by the agent itself (ended).
    public func forget(_ id: UUID) {
        entries.remove(id)
    }

    public func apply(_ invalidation: Invalidation) {
        switch invalidation {
        case .run(let id): entries.remove(id)
        case .agent(let id): entries.removeAll { $1.agentID == id }
        case .org(let id): entries.removeAll { $1.orgID == id }
        case .all: entries.expireAll()
        case .token: break
        }
    }
}
