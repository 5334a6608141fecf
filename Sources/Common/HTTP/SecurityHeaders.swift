import HTTPTypes
import Hummingbird

extension HTTPField.Name {
    public static let xFrameOptions = HTTPField.Name("x-frame-options")!
    public static let referrerPolicy = HTTPField.Name("referrer-policy")!
}

/// Headers every answer of the org and platform APIs carries (errors included; a page that sets
/// its own keeps them): nothing may frame it, sniff it into another type, cache it, or learn
/// where it was linked from — the answers hold org data and, once, secrets.
public struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public static var defaults: [(HTTPField.Name, String)] {
        [
            (.contentSecurityPolicy, "default-src 'none'; frame-ancestors 'none'"), (.xFrameOptions, "DENY"),
            (.xContentTypeOptions, "nosniff"), (.referrerPolicy, "no-referrer"), (.cacheControl, "no-store"),
        ]
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        for (name, value) in Self.defaults where response.headers[name] == nil {
            response.headers[name] = value
        }
        return response
    }
}
