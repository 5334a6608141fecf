import Common
import HTTPTypes
import Hummingbird

/// Who may call a route.
public enum RouteAccess: Sendable, Equatable {
    /// Anyone (login, sign-up, the OpenAPI document).
    case anonymous
    /// A signed-in user with a session; `allowsAdminToken` also accepts an admin token.
    case user(allowsAdminToken: Bool)
    /// A member of the org in the path whose role (and token scopes) allow `action`.
    case org(Action)
}

/// One control-plane endpoint: the single declaration the router, the route guard, the OpenAPI
/// document and the RBAC matrix test all read.
public struct APIRoute: Sendable {
    public typealias Handler = @Sendable (Request, ControlRequestContext) async throws -> Response

    public let method: HTTPRequest.Method
    /// OpenAPI-style path, e.g. `/api/orgs/{org}/teams/{team}`.
    public let path: String
    public let access: RouteAccess
    public let summary: String
    public let successStatus: HTTPResponse.Status
    /// JSON Schema of the request body, when the route takes one.
    public let requestBody: JSONValue?
    /// Error statuses particular to this route (beyond those its access implies), for the OpenAPI document.
    public let errors: [HTTPResponse.Status: String]
    public let handler: Handler

    public init(
        _ method: HTTPRequest.Method, _ path: String, access: RouteAccess, summary: String,
        success: HTTPResponse.Status = .ok, body: JSONValue? = nil, errors: [HTTPResponse.Status: String] = [:], handler: @escaping Handler
    ) {
        self.method = method
        self.path = path
        self.access = access
        self.summary = summary
        self.successStatus = success
        self.requestBody = body
        self.errors = errors
        self.handler = handler
    }

    /// The path in Hummingbird's syntax (`:org`).
    public var routerPath: String {
        path.split(separator: "/", omittingEmptySubsequences: false).map { segment in
            segment.hasPrefix("{") && segment.hasSuffix("}") ? ":" + segment.dropFirst().dropLast() : segment
        }.joined(separator: "/")
    }

    /// The names of the path's parameters, in order.
    public var pathParameters: [String] {
        path.split(separator: "/").filter { $0.hasPrefix("{") }.map { String($0.dropFirst().dropLast()) }
    }
}

/// A group of routes (one resource area).
public protocol RouteCollection: Sendable {
    var routes: [APIRoute] { get }
}
