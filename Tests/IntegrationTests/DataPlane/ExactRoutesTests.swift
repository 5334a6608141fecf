@testable import DataPlane
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// The model endpoints are found by their exact path ahead of the router: the same middleware, the
/// same metrics label, and everything else answered by the router as before.
@Suite struct ExactRoutesTests {
    /// Says which endpoint path labelled the call (what the metrics middleware reads).
    struct Labelling<Context: RequestContext>: RouterMiddleware {
        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            var response = try await next(request, context)
            response.headers[Self.label] = context.endpointPath ?? "none"
            return response
        }

        static var label: HTTPField.Name { HTTPField.Name("x-label")! }
    }

    static func app() -> some ApplicationProtocol {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: Labelling())
        // Told apart from the router's own handler for the same path, to see which one answered.
        let exact: @Sendable (Request, BasicRequestContext) async throws -> Response = { _, _ in
            Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "exact")))
        }
        let failing: @Sendable (Request, BasicRequestContext) async throws -> Response = { _, _ in
            throw HTTPError(.unprocessableContent, message: "refused")
        }
        router.post("/v1/x") { _, _ in "router" }
        router.get("/v1/x") { _, _ in "router get" }
        router.post("/v1/failing", use: failing)
        let responder = ExactRoutes(router: router.buildResponder(), middlewares: router.middlewares,
                                    routes: [("/v1/x", .post, exact), ("/v1/failing", .post, failing)])
        return Application(responder: responder, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    }

    @Test func anExactPathIsAnsweredBehindTheRoutersMiddlewareAndTheRestByTheRouter() async throws {
        try await Self.app().test(.router) { client in
            func call(_ method: HTTPRequest.Method, _ path: String) async throws -> (HTTPResponse.Status, String, String?) {
                try await client.execute(uri: path, method: method) { ($0.status, String(buffer: $0.body), $0.headers[Labelling<BasicRequestContext>.label]) }
            }
            #expect(try await call(.post, "/v1/x") == (.ok, "exact", "/v1/x"))
            #expect(try await call(.post, "/v1/x?stream=1") == (.ok, "exact", "/v1/x"), "the path, not the query, is matched")
            #expect(try await call(.get, "/v1/x") == (.ok, "router get", "/v1/x"))
            #expect(try await call(.post, "/v1/x/") == (.ok, "router", "/v1/x"), "anything but the exact path is the router's")
            #expect(try await call(.post, "/v1/nowhere").0 == .notFound)
            // A handler's HTTP error answers as it would from the router.
            let (status, body, label) = try await call(.post, "/v1/failing")
            #expect(status == .unprocessableContent && body.contains("refused") && label == nil)
        }
    }
}
