import Common
import Foundation
import Synchronization

/// `policy.drift`: the first time an agent uses a model or a tool under a policy version, an event
/// says so (a new capability in use, worth a look even when the policy allows it). What has been
/// seen is a set per agent and policy version, in Redis when configured; checked off the request path.
/// What this process already knows to be seen is not asked again, so a steady agent costs nothing.
final class DriftWatch: Sendable {
    /// A model or tool an agent used under a policy version. Compared as values: a steady agent's
    /// call builds no key string (two ids formatted, an item prefixed) just to find it known.
    private struct Use: Hashable, Sendable {
        let agentID: UUID
        let policyID: UUID
        let version: Int
        let kind: String  // "model" or "tool"
        let name: String

        /// The member in the Redis set of the agent and policy version.
        var item: String { "\(kind):\(name)" }
    }

    private let redis: RedisClient?
    private let local = Mutex<Set<Use>>([])
    /// Uses Redis has answered for (bounded: emptied when full, then relearned).
    private let known = Mutex<Set<Use>>([])

    init(redis: RedisClient?) {
        self.redis = redis
    }

    private static let script = RedisScript("""
        local new = {}
        for i = 1, #ARGV do
          if redis.call('SADD', KEYS[1], ARGV[i]) == 1 then new[#new + 1] = ARGV[i] end
        end
        redis.call('EXPIRE', KEYS[1], 7776000)
        return new
        """)

    /// Notes the model and tools of an admitted call; emits `policy.drift` for each first use.
    func observe(model: String?, tools: [String], principal: AgentPrincipal, policy: ActivePolicy, recorder: GovernanceRecorder) {
        let use = { (kind: String, name: String) in
            Use(agentID: principal.agentID, policyID: policy.policyID, version: policy.version, kind: kind, name: name)
        }
        let uses = ((model.map { [use("model", $0)] } ?? []) + Set(tools).sorted().map { use("tool", $0) })
            .filter { use in !known.withLock { $0.contains(use) } }
        guard !uses.isEmpty else { return }
        Task {
            let fresh: [Use]
            if let redis {
                let key = GovernanceCounters.key(org: principal.orgID, "drift", .id(principal.agentID), .id(policy.policyID),
                                                 .number(policy.version))
                guard let reply = try? await redis.eval(Self.script, keys: [key], arguments: uses.map(\.item)) else { return }
                let added = Set(reply.array?.compactMap(\.string) ?? [])
                fresh = uses.filter { added.contains($0.item) }
                self.known.withLock { known in
                    if known.count >= 100_000 { known.removeAll(keepingCapacity: true) }
                    known.formUnion(uses)
                }
            } else {
                fresh = self.local.withLock { seen in uses.filter { seen.insert($0).inserted } }
            }
            for use in fresh {
                recorder.emit(orgID: principal.orgID, type: .policyDrift, [
                    "agent_id": .string(principal.agentID.lowercasedString), "policy": .string(policy.name),
                    "policy_version": .number(Double(policy.version)), "kind": .string(use.kind), "name": .string(use.name),
                ])
            }
        }
    }
}
