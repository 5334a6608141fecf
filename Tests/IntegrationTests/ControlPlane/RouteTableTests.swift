import Common
import ControlPlane
import Foundation
import Hummingbird
import HummingbirdTesting
import Prometheus
import TestSupport
import Testing

/// The router, the route declarations and the OpenAPI document describe the same endpoints.
@Suite struct RouteTableTests {
    /// Served outside the route table: operational endpoints, and the pages of signed approval links.
    static let operational: Set<String> = [
        "GET /healthz", "GET /readyz", "GET /metrics", "GET /approval-links/{token}", "POST /approval-links/{token}",
    ]

    /// The web console's HTML pages: outside `/api`, each an API call in disguise (ConsoleAPI).
    static func isConsolePage(_ route: String) -> Bool { !route.contains(" /api/") && !operational.contains(route) }

    @Test func everyRouteTheRouterServesDeclaresItsAccess() async throws {
        try await TestDatabase.with { database in
            let api = try TestApps.controlPlaneAPI(database).api
            let router = api.router(service: "rungate-control", checks: [], metrics: PrometheusCollectorRegistry())
            let served = Set(router.routes.map { "\($0.method) \($0.path)" }).filter { !Self.isConsolePage($0) }
            let declared = Set(api.routes.map { "\($0.method) \($0.path)" })
            #expect(served.subtracting(declared).subtracting(Self.operational).isEmpty,
                    "routes without a declared access: \(served.subtracting(declared).subtracting(Self.operational).sorted())")
            #expect(declared.subtracting(served).isEmpty)
            // Every route that names an org declares an org action, never mere sign-in.
            for route in api.routes where route.path.contains("{org}") {
                guard case .org = route.access else {
                    Issue.record("\(route.method) \(route.path) names an org but does not declare an RBAC action")
                    continue
                }
            }
            #expect(api.routes.count >= 30)
        }
    }

    @Test func theOpenAPIDocumentListsExactlyTheServedRoutes() async throws {
        try await TestDatabase.with { database in
            let api = try TestApps.controlPlaneAPI(database).api
            let router = api.router(service: "rungate-control", checks: [], metrics: PrometheusCollectorRegistry())
            let served = Set(router.routes.map { "\($0.method) \($0.path)" }).filter { !Self.isConsolePage($0) }
            try await TestApps.controlPlane(database).test(.router) { client in
                try await client.execute(uri: "/api/openapi.json", method: .get) { response in
                    #expect(response.status == .ok)
                    let document = try JSONDecoder().decode(JSONValue.self, from: response.body)
                    #expect(document["openapi"] == "3.1.0")
                    guard case .object(let paths) = document["paths"] else { Issue.record("no paths"); return }
                    var documented = Set<String>()
                    for (path, item) in paths {
                        guard case .object(let operations) = item else { continue }
                        for (method, operation) in operations {
                            documented.insert("\(method.uppercased()) \(path)")
                            #expect(operation["operationId"]?.stringValue != nil)
                            #expect(operation["responses"] != nil)
                        }
                    }
                    #expect(documented == served)
                    // Org endpoints carry their RBAC action, and it is one of the catalogue's.
                    for route in api.routes {
                        guard case .org(let action) = route.access else { continue }
                        let operation = document["paths"]?[route.path]?[route.method.rawValue.lowercased()]
                        #expect(operation?["x-rungate-action"]?.stringValue == action.rawValue)
                    }
                }
            }
        }
    }
}
