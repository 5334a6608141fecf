import Common
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle

/// Builds the data plane: the agent-facing API on port 8080.
public func buildDataPlane(
    configuration: DataPlaneConfiguration, backing: BackingServices, metrics: PrometheusCollectorRegistry, logger: Logger
) throws -> some ApplicationProtocol {
    if backing.redis == nil {
        logger.warning("RUNGATE_REDIS_URL is not set: counters are in-process, so this data plane is correct only as a SINGLE node; do not run replicas")
    }
    let database = backing.database
    let tokenCache = AgentTokenCache(timeToLive: configuration.tokenCacheTimeToLive, health: database.health)
    let agents = PostgresAgentRepository(database: database)
    let tokenUsage = TokenUsageRecorder(repository: agents, logger: logger, interval: configuration.tokenUsageFlushInterval)
    let authenticator = AgentAuthenticator(repository: agents, cache: tokenCache, usage: tokenUsage)
    let runs = PostgresRunRepository(database: database)
    let stepRepository = PostgresStepRepository(database: database)
    let dataKeys = DataKeyCache(repository: PostgresDataKeyRepository(database: database, keyring: configuration.keyring), health: database.health)
    let providerKeys = ProviderKeyResolver(database: database, dataKeys: dataKeys)
    let steps = try StepRecorder(repository: stepRepository, logger: logger, interval: configuration.stepFlushInterval,
                                 spoolDirectory: configuration.spoolDirectory,
                                 memoryLimitBytes: configuration.stepBufferBytes, health: database.health)
    let directory = RunDirectory(repository: runs, recorder: steps, health: database.health)
    let prices = PriceBook(database: database)
    let policies = PolicyStore(database: database)
    let budgets = BudgetGuard(database: database, redis: backing.redis, logger: logger)
    let budgetSpend = BudgetSpendRecorder(database: database, logger: logger)
    let counters = GovernanceCounters(redis: backing.redis)
    let governance = GovernanceGate(policies: policies, counters: counters,
                                    preflight: Preflight(redis: backing.redis, counters: counters, budgets: budgets, spend: budgetSpend),
                                    failOpenRateLimits: configuration.failOpenRateLimits, reservationLease: configuration.reservationLease)
    let settlements = BudgetSettlements(budgets: budgets, steps: steps)
    let governanceRecorder = GovernanceRecorder(steps: steps, spend: budgetSpend, settlements: settlements)
    let approvals = ApprovalGates(database: database, timeToLive: configuration.approvalTimeToLive)
    let invalidations = try backing.databaseURL.map { url in
        try InvalidationListener(databaseURL: url, logger: logger) { invalidation in
            tokenCache.apply(invalidation)
            providerKeys.apply(invalidation)
            dataKeys.apply(invalidation)
            budgets.apply(invalidation)
            directory.apply(invalidation)
        }
    }
    let upstream = UpstreamClient(readTimeout: configuration.upstreamReadTimeout, requestTimeout: configuration.upstreamRequestTimeout)
    let proxy = ProxyService(
        authenticator: authenticator, runs: directory, providerKeys: providerKeys, dataKeys: dataKeys, upstream: upstream,
        steps: steps, prices: prices, policies: policies, governance: governance,
        budgets: budgets, recorder: governanceRecorder, approvals: approvals, drift: DriftWatch(redis: backing.redis),
        maxBodyBytes: configuration.maxBodyBytes)

    // Shut down in reverse order, after the HTTP server: settles (which emit events) before the steps.
    var services: [any Service] = [steps, settlements, tokenUsage, budgetSpend, prices, upstream]
    if let invalidations { services.append(invalidations) }

    let router = Router(context: RungateRequestContext.self)
    let service = "rungate-data"
    RungateServer.prepare(router, service: service, shape: { ErrorShape.dataPlane(path: $0.uri.path) },
                          checks: backing.readinessChecks, metrics: metrics)
    let modelRoutes = ProviderEndpoint.allCases.map { endpoint in
        (path: endpoint.rawValue, method: HTTPRequest.Method.post, handler: { @Sendable (request: Request, context: RungateRequestContext) in
            try await proxy.forward(endpoint, request: request, context: context)
        })
    }
    for route in modelRoutes { router.post(RouterPath(route.path), use: route.handler) }
    router.get("/v1/models") { request, _ in try await proxy.models(request: request) }
    RunRoutes(authenticator: authenticator, runs: runs, directory: directory, steps: stepRepository, policies: policies, maxBodyBytes: configuration.maxBodyBytes)
        .add(to: router)
    ToolCallRoutes(authenticator: authenticator, runs: runs, directory: directory, policies: policies, approvals: approvals,
                   maxBodyBytes: configuration.maxBodyBytes).add(to: router)

    var app = RungateServer.application(router: router, service: service, host: configuration.host,
                                        port: configuration.port, backing: backing, services: services, logger: logger) { responder in
        // Agent calls find their route by its exact path; everything else through the router.
        .bufferedHTTP1(responder: ExactRoutes(router: responder, middlewares: router.middlewares, routes: modelRoutes),
                       maxBodyBytes: configuration.maxBodyBytes, serverName: service)
    }
    app.beforeServerStarts { try await prices.reload() }
    return app
}
