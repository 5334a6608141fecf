import Common
import Foundation
import Hummingbird
import NIOCore
import Logging
import Prometheus
import ServiceLifecycle

/// The control plane's API: every route it serves, declared once.
public struct ControlPlaneAPI: Sendable {
    public let services: ControlPlaneServices
    public let routes: [APIRoute]

    public init(services: ControlPlaneServices) {
        self.services = services
        let collections: [any RouteCollection] = [
            AuthRoutes(services: services), OrgRoutes(services: services), MemberRoutes(services: services),
            TeamRoutes(services: services), AdminTokenRoutes(services: services), AuditRoutes(services: services),
            AgentRoutes(services: services), ProviderKeyRoutes(services: services), PolicyRoutes(services: services),
            BudgetRoutes(services: services), PriceRoutes(services: services), WebhookRoutes(services: services),
            RunRoutes(services: services), ApprovalRoutes(services: services), SpendRoutes(services: services),
        ]
        var routes = collections.flatMap(\.routes)
        let document = routes + [Self.openAPIRoute(document: .null)]
        routes.append(Self.openAPIRoute(document: OpenAPIDocument.build(document)))
        self.routes = routes
    }

    private static func openAPIRoute(document: JSONValue) -> APIRoute {
        APIRoute(.get, "/api/openapi.json", access: .anonymous, summary: "This API's OpenAPI 3.1 document") { _, _ in
            jsonResponse(.ok, document)
        }
    }

    /// The router: operational routes, then each declared route behind its guard.
    public func router(service: String, checks: [ReadinessCheck], metrics: PrometheusCollectorRegistry) -> Router<ControlRequestContext> {
        let router = Router(context: ControlRequestContext.self)
        RungateServer.prepare(router, service: service, shape: { _ in .admin }, checks: checks, metrics: metrics, securityHeaders: true)
        let guardian = RouteGuard(authenticator: Authenticator(users: services.users, adminTokens: services.adminTokens), database: services.database)
        for route in routes {
            router.on(RouterPath(route.routerPath), method: route.method) { request, context in
                var context = context
                try await guardian.admit(route, request: request, context: &context)
                return try await route.handler(request, context)
            }
        }
        // Pages, not API: decisions from signed links, and the web console (both over the same routes).
        ApprovalLinkRoutes(services: services).add(to: router)
        ConsoleRoutes(routes: routes, guardian: guardian).add(to: router)
        // RFC 9116: where to report a vulnerability (its Expires is required: a year ahead).
        let contact = services.configuration.securityContact
        router.get("/.well-known/security.txt") { _, _ in
            let expires = Date().addingTimeInterval(365 * 86_400).formatted(.iso8601)
            let text = "Contact: \(contact)\nExpires: \(expires)\nPreferred-Languages: en\nPolicy: \(services.configuration.publicURL)/.well-known/security.txt\n"
            return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        return router
    }
}

extension ControlPlaneServices {
    /// The services over Postgres (and Redis, for login throttling, when configured).
    public init(configuration: ControlPlaneConfiguration, backing: BackingServices) {
        let database = backing.database
        self.init(
            database: database, users: PostgresUserRepository(database: database), orgs: PostgresOrgRepository(logger: database.logger),
            members: PostgresMemberRepository(logger: database.logger), teams: PostgresTeamRepository(logger: database.logger),
            agents: PostgresOrgAgentRepository(logger: database.logger), policies: PostgresPolicyRepository(logger: database.logger),
            adminTokens: PostgresAdminTokenRepository(database: database), audit: PostgresAuditLogRepository(logger: database.logger),
            dataKeys: PostgresDataKeyRepository(database: database, keyring: configuration.keyring),
            passwords: Passwords(cost: configuration.passwordHashCost),
            loginThrottle: LoginThrottle(redis: backing.redis, limits: configuration.loginLimits), redis: backing.redis,
            outboundURLs: OutboundURLPolicy(allowPrivate: configuration.allowPrivateURLs), configuration: configuration)
    }
}

/// Builds the control plane: the org-facing `/api` on port 8081, and its org-deletion job.
public func buildControlPlane(
    configuration: ControlPlaneConfiguration, backing: BackingServices, metrics: PrometheusCollectorRegistry, logger: Logger
) -> some ApplicationProtocol {
    let services = ControlPlaneServices(configuration: configuration, backing: backing)
    let api = ControlPlaneAPI(services: services)
    let deletion = OrgDeletionJob(database: backing.database, orgs: services.orgs, interval: configuration.deletionSweepInterval,
                                  now: configuration.now, logger: logger)
    let webhooks = WebhookDispatcher(configuration: configuration, database: backing.database, dataKeys: services.dataKeys, logger: logger)
    var jobs: [any Service] = [deletion, webhooks]
    if configuration.traces.endpoint != nil {
        jobs.append(TraceExporter(settings: configuration.traces, database: backing.database, logger: logger))
    }
    return RungateServer.application(
        router: api.router(service: "rungate-control", checks: backing.readinessChecks, metrics: metrics),
        service: "rungate-control", host: configuration.host, port: configuration.port, backing: backing,
        services: jobs, logger: logger)
}
