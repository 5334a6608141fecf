import Metrics

/// What every step says on `/metrics`: calls by endpoint, kind and status; blocks by the rule that
/// fired; spend by provider; call latency; and how many steps wait to be written.
enum CallMetrics {
    static let queued = Gauge(label: "rungate_steps_queued")
    /// Steps moved to the disk spool while PostgreSQL was away.
    static let spooled = Counter(label: "rungate_steps_spooled_total")

    static func observe(_ step: StepRecord) {
        Counter(label: "rungate_calls_total", dimensions: [("endpoint", step.endpoint), ("kind", step.kind.rawValue), ("status", step.status)])
            .increment()
        if step.kind == .block {
            Counter(label: "rungate_blocks_total", dimensions: [("rule", Self.ruleFamily(step.rule))]).increment()
        }
        if step.costMicros > 0 {
            Counter(label: "rungate_spend_micros_total", dimensions: [("provider", step.provider ?? "unknown")]).increment(by: step.costMicros)
        }
        if let latency = step.latencyMilliseconds {
            Timer(label: "rungate_call_duration_seconds", dimensions: [("endpoint", step.endpoint)]).recordMilliseconds(latency)
        }
    }

    /// `tools.deny[3]` → `tools.deny`: one series per kind of rule, however many rules a policy has.
    static func ruleFamily(_ rule: String?) -> String {
        guard let rule else { return "unknown" }
        return String(rule.prefix { $0 != "[" })
    }
}
