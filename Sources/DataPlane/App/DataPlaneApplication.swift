import Common
import Hummingbird
import Logging
import Prometheus

/// Builds the data plane: the agent-facing API on port 8080.
public func buildDataPlane(
    configuration: DataPlaneConfiguration, backing: BackingServices, metrics: PrometheusCollectorRegistry, logger: Logger
) -> some ApplicationProtocol {
    if backing.redis == nil {
        logger.warning("RUNGATE_REDIS_URL is not set: counters are in-process, so this data plane is correct only as a SINGLE node; do not run replicas")
    }
    let router = Router(context: RungateRequestContext.self)
    RungateServer.prepare(router, service: "rungate-data", shape: { ErrorShape.dataPlane(path: $0.uri.path) },
                          checks: backing.readinessChecks, metrics: metrics)
    return RungateServer.application(router: router, service: "rungate-data", host: configuration.host,
                                     port: configuration.port, backing: backing, logger: logger)
}
