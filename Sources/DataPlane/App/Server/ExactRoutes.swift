import HTTPTypes
import Hummingbird

/// The routes every agent call takes (the model endpoints), found by their exact path before the
/// router's trie is asked; any other request goes to the router. Hummingbird's trie splits the path
/// into components and walks them as strings — ~14 K instructions of a passthrough call's ~400 K
/// (bench/RESULTS.md, session 33) for a handful of fixed paths. A route here runs behind the same
/// middleware as the router's routes and is labelled with its path the same way (metrics read it).
struct ExactRoutes<Context: RequestContext>: HTTPResponder {
    private struct Route {
        let method: HTTPRequest.Method
        let responder: any HTTPResponder<Context>
    }

    private let router: RouterResponder<Context>
    private let routes: [String: Route]

    /// `router`: the router's responder, built once its routes and middleware are all added;
    /// `middlewares`: the router's. `routes`: each route's path, method and handler — registered
    /// with the router too, so it answers the rest as it would (another method, a trailing slash).
    init(router: RouterResponder<Context>, middlewares: MiddlewareGroup<Context>,
         routes: [(path: String, method: HTTPRequest.Method, handler: @Sendable (Request, Context) async throws -> Response)]) {
        self.router = router
        var table: [String: Route] = [:]
        for route in routes {
            precondition(table[route.path] == nil, "one method per exact route")
            table[route.path] = Route(method: route.method,
                                      responder: middlewares.constructResponder(finalResponder: CallbackResponder(callback: route.handler)))
        }
        self.routes = table
    }

    func respond(to request: Request, context: Context) async throws -> Response {
        let path = request.uri.path
        guard let route = routes[path], route.method == request.method else {
            return try await router.respond(to: request, context: context)
        }
        // As the router does: the endpoint's path labels the call's metrics.
        context.coreContext.endpointPath.value = path
        do {
            return try await route.responder.respond(to: request, context: context)
        } catch let error as any HTTPResponseError {
            return try error.response(from: request, context: context)
        }
    }
}
