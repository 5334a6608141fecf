import Common
import Metrics

/// What every step says on `/metrics`: calls by endpoint, kind and status; blocks by the rule that
/// fired; spend by provider; call latency; and how many steps wait to be written.
enum CallMetrics {
    static let queued = Gauge(label: "rungate_steps_queued")
    /// Steps moved to the disk spool while PostgreSQL was away.
    static let spooled = Counter(label: "rungate_steps_spooled_total")

    private struct CallKey: Hashable, Sendable {
        let endpoint: String
        let kind: String
        let status: String
    }

    private static let calls = MetricHandles<CallKey, Counter>()
    private static let blocks = MetricHandles<String, Counter>()
    private static let spend = MetricHandles<String, Counter>()
    private static let durations = MetricHandles<String, Timer>()

    static func observe(_ step: StepRecord) {
        let call = CallKey(endpoint: step.endpoint, kind: step.kind.rawValue, status: step.status)
        calls.handle(call) {
            Counter(label: "rungate_calls_total", dimensions: [("endpoint", call.endpoint), ("kind", call.kind), ("status", call.status)])
        }.increment()
        if step.kind == .block {
            let rule = Self.ruleFamily(step.rule)
            blocks.handle(rule) { Counter(label: "rungate_blocks_total", dimensions: [("rule", rule)]) }.increment()
        }
        if step.costMicros > 0 {
            let provider = step.provider ?? "unknown"
            spend.handle(provider) { Counter(label: "rungate_spend_micros_total", dimensions: [("provider", provider)]) }
                .increment(by: step.costMicros)
        }
        if let latency = step.latencyMilliseconds {
            durations.handle(step.endpoint) { Timer(label: "rungate_call_duration_seconds", dimensions: [("endpoint", step.endpoint)]) }
                .recordMilliseconds(latency)
        }
    }

    /// `tools.deny[3]` → `tools.deny`: one series per kind of rule, however many rules a policy has.
    static func ruleFamily(_ rule: String?) -> String {
        guard let rule else { return "unknown" }
        return String(rule.prefix { $0 != "[" })
    }
}
