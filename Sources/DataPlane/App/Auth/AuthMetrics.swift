import Common
import Metrics

/// Counters that show how agent authentication is answered, on `/metrics`.
///
/// `rungate_agent_token_db_lookups_total` counts trips to the database: a malformed token must never
/// add to it (it is refused from its shape alone), and a healthy cache keeps it far below the call rate.
enum AuthMetrics {
    static let databaseLookups = Counter(label: "rungate_agent_token_db_lookups_total")

    private static let rejections = MetricHandles<String, Counter>()

    /// Refused tokens can come at any rate (a client stuck on an old one, a scan): one handle per reason.
    static func rejected(reason: String) {
        rejections.handle(reason) { Counter(label: "rungate_agent_auth_rejected_total", dimensions: [("reason", reason)]) }.increment()
    }
}
