import Common
import Foundation
import Synchronization

/// `policy.drift`: the first time an agent uses a model or a tool under a policy version, an event
/// says so (a new capability in use, worth a look even when the policy allows it). What has been
/// seen is a set per agent and policy version, in Redis when configured; checked off the request path.
/// What this process already knows to be seen is not asked again, so a steady agent costs nothing.
final class DriftWatch: Sendable {
    private let redis: RedisClient?
    private let local = Mutex<Set<String>>([])
    /// Items Redis has answered for (bounded: emptied when full, then relearned).
    private let known = Mutex<Set<String>>([])

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
        let key = GovernanceCounters.key(org: principal.orgID, "drift", principal.agentID.lowercasedString,
                                         policy.policyID.lowercasedString, String(policy.version))
        let items = ((model.map { ["model:\($0)"] } ?? []) + Set(tools).sorted().map { "tool:\($0)" })
            .filter { item in !known.withLock { $0.contains("\(key)|\(item)") } }
        guard !items.isEmpty else { return }
        Task {
            let fresh: [String]
            if let redis {
                guard let reply = try? await redis.eval(Self.script, keys: [key], arguments: items) else { return }
                fresh = reply.array?.compactMap(\.string) ?? []
                self.known.withLock { known in
                    if known.count >= 100_000 { known.removeAll(keepingCapacity: true) }
                    for item in items { known.insert("\(key)|\(item)") }
                }
            } else {
                fresh = self.local.withLock { seen in items.filter { seen.insert("\(key)|\($0)").inserted } }
            }
            for item in fresh {
                let parts = item.split(separator: ":", maxSplits: 1).map(String.init)
                recorder.emit(orgID: principal.orgID, type: .policyDrift, [
                    "agent_id": .string(principal.agentID.lowercasedString), "policy": .string(policy.name),
                    "policy_version": .number(Double(policy.version)), "kind": .string(parts[0]), "name": .string(parts[1]),
                ])
            }
        }
    }
}
