import Metrics
import Prometheus

/// Process-wide metrics set-up. Call once, from `main` only; tests build apps with their own registry.
public enum RungateMetrics {
    public static func bootstrap() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }
}
