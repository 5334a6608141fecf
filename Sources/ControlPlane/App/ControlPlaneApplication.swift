import Common
import Hummingbird
import Logging
import Prometheus

/// Builds the control plane: the org-facing `/api` on port 8081.
public func buildControlPlane(
    configuration: ControlPlaneConfiguration, backing: BackingServices, metrics: PrometheusCollectorRegistry, logger: Logger
) -> some ApplicationProtocol {
    let router = Router(context: RungateRequestContext.self)
    RungateServer.prepare(router, service: "rungate-control", shape: { _ in .admin },
                          checks: backing.readinessChecks, metrics: metrics)
    return RungateServer.application(router: router, service: "rungate-control", host: configuration.host,
                                     port: configuration.port, backing: backing, logger: logger)
}
