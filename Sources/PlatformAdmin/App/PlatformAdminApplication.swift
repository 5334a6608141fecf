import Common
import Hummingbird
import Logging
import Prometheus

/// The platform service's routes, declared once (tests walk them).
public struct PlatformAPI: Sendable {
    public let routes: [PlatformRoute]
    let database: Database
    let allowedNetworks: [IPNetwork]

    public init(configuration: PlatformAdminConfiguration, database: Database) {
        self.database = database
        self.allowedNetworks = configuration.allowedNetworks
        self.routes = AccountRoutes(database: database, invitationLifetime: configuration.invitationLifetime).routes
            + UserRoutes(database: database).routes + AuditLogRoutes(database: database).routes + PlatformTokenRoutes(database: database).routes
    }

    public func router(checks: [ReadinessCheck], metrics: PrometheusCollectorRegistry) -> Router<PlatformRequestContext> {
        let router = Router(context: PlatformRequestContext.self)
        RungateServer.prepare(router, service: "rungate-platform", shape: { _ in .admin }, checks: checks, metrics: metrics, securityHeaders: true)
        let guardian = PlatformGuard(database: database, allowedNetworks: allowedNetworks)
        for route in routes {
            router.on(RouterPath(route.path), method: route.method) { request, context in
                var context = context
                let principal = try await guardian.admit(request, context: context)
                context.principal = principal
                let call = PlatformCall(
                    database: database, principal: principal,
                    origin: (context.remoteAddress?.ipAddress, request.headers[.userAgent].map { String($0.prefix(512)) }))
                return try await route.handler(request, context, call)
            }
        }
        return router
    }
}

/// Builds the platform-admin service (`/platform`, port 8082). It connects with the platform
/// database role, which has no privilege on customer run data, and holds no master key.
public func buildPlatformAdmin(
    configuration: PlatformAdminConfiguration, backing: BackingServices, metrics: PrometheusCollectorRegistry, logger: Logger
) -> some ApplicationProtocol {
    let api = PlatformAPI(configuration: configuration, database: backing.database)
    return RungateServer.application(router: api.router(checks: backing.readinessChecks, metrics: metrics), service: "rungate-platform",
                                     host: configuration.host, port: configuration.port, backing: backing, logger: logger)
}
