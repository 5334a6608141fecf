import Hummingbird
import HummingbirdCore
import Logging
import Prometheus
import ServiceLifecycle

/// Composition shared by the three server processes: the same outer middleware, the same
/// operational routes, backing services run before the HTTP server, and a schema check that
/// refuses to serve on a database older than the build.
public enum RungateServer {
    /// Adds the outermost middleware (errors in `shape`, HTTP metrics) and `/healthz`, `/readyz`, `/metrics`.
    public static func prepare<Context: RequestContext>(
        _ router: Router<Context>, service: String, shape: @escaping @Sendable (Request) -> ErrorShape,
        checks: [ReadinessCheck], metrics: PrometheusCollectorRegistry, securityHeaders: Bool = false
    ) {
        // Outermost, so the answers the error middleware renders carry them too.
        if securityHeaders { router.addMiddleware { SecurityHeadersMiddleware<Context>() } }
        router.addMiddleware {
            ErrorMiddleware<Context>(shape: shape)
            RequestMetricsMiddleware<Context>()
        }
        OperationalRoutes.add(to: router, service: service, checks: checks, metrics: metrics)
    }

    /// The application: backing services first, then `services`, then the server; SIGTERM drains in reverse.
    /// `server` picks the transport for the router's responder (Hummingbird's HTTP/1.1 by default).
    public static func application<Context: RequestContext>(
        router: Router<Context>, service: String, host: String, port: Int,
        backing: BackingServices, services: [any Service] = [], logger: Logger,
        server: (RouterResponder<Context>) -> HTTPServerBuilder = { _ in .http1() }
    ) -> Application<RouterResponder<Context>> {
        let responder = router.buildResponder()
        var app = Application(
            responder: responder,
            server: server(responder),
            configuration: .init(address: .hostname(host, port: port), serverName: service),
            services: backing.services + services + [EventLoopLagMonitor()],
            logger: logger)
        app.beforeServerStarts {
            try await backing.database.requireSchema(version: SchemaVersion.required)
            logger.info("ready", metadata: ["address": "\(host):\(port)", "redis": "\(backing.redis == nil ? "not configured" : "configured")"])
        }
        return app
    }
}
