import Common
import Hummingbird
import Logging
import Prometheus

/// Builds the platform-admin service (`/platform`, port 8082). It connects with the platform
/// database role, which has no privilege on customer run data.
public func buildPlatformAdmin(
    configuration: PlatformAdminConfiguration, backing: BackingServices, metrics: PrometheusCollectorRegistry, logger: Logger
) -> some ApplicationProtocol {
    let router = Router(context: RungateRequestContext.self)
    RungateServer.prepare(router, service: "rungate-platform", shape: { _ in .admin },
                          checks: backing.readinessChecks, metrics: metrics)
    return RungateServer.application(router: router, service: "rungate-platform", host: configuration.host,
                                     port: configuration.port, backing: backing, logger: logger)
}
