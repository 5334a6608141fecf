import Metrics
import Prometheus

/// Process-wide metrics set-up. Call once, from `main` only; tests build apps with their own registry.
public enum RungateMetrics {
    public static func bootstrap() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Event-loop lag matters from a fraction of a millisecond on (the default buckets start at 5 ms).
        factory.durationHistogramBuckets[EventLoopLagMonitor.metricLabel] = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1),
        ]
        MetricsSystem.bootstrap(factory)
        return registry
    }
}
