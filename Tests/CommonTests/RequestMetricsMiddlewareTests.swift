import Common
import Hummingbird
import HummingbirdTesting
import NIOCore
import Prometheus
import Testing

/// Requests are counted per route, method and status — Rungate's errors under the status they
/// answer with — and a stream is timed to its end, without changing what the client receives.
@Suite struct RequestMetricsMiddlewareTests {
    static func app(registry: PrometheusCollectorRegistry) -> some ApplicationProtocol {
        let router = Router()
        router.addMiddleware {
            ErrorMiddleware<BasicRequestContext>(shape: { _ in .admin })
            RequestMetricsMiddleware<BasicRequestContext>(factory: PrometheusMetricsFactory(registry: registry))
        }
        router.get("/whole") { _, _ in "hello" }
        router.get("/stream") { _, _ in
            Response(status: .ok, body: ResponseBody { writer in
                try await writer.write(ByteBuffer(string: "one,"))
                try await writer.write(ByteBuffer(string: "two"))
                try await writer.finish(nil)
            })
        }
        router.get("/broke") { _, _ -> String in
            throw RungateError(.init(code: 402), code: "budget_exceeded", message: "Over budget.")
        }
        return Application(router: router)
    }

    static func exposition(_ registry: PrometheusCollectorRegistry) -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    @Test func countsEachRouteUnderItsStatus() async throws {
        let registry = PrometheusCollectorRegistry()
        try await Self.app(registry: registry).test(.router) { client in
            for _ in 0..<2 {
                try await client.execute(uri: "/whole", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(String(buffer: response.body) == "hello")
                    #expect(response.headers[.contentLength] == "5")
                }
            }
            try await client.execute(uri: "/stream", method: .get) { response in
                #expect(String(buffer: response.body) == "one,two")
            }
            try await client.execute(uri: "/broke", method: .get) { response in
                #expect(response.status.code == 402)
            }
        }
        let text = Self.exposition(registry)
        #expect(text.contains(#"hb_requests{http_route="/whole",http_request_method="GET",http_response_status_code="200"} 2"#))
        #expect(text.contains(#"hb_requests{http_route="/stream",http_request_method="GET",http_response_status_code="200"} 1"#))
        #expect(text.contains(#"hb_requests{http_route="/broke",http_request_method="GET",http_response_status_code="402"} 1"#))
        #expect(text.contains(#"hb_request_errors{http_route="/broke",http_request_method="GET",error_type="402"} 1"#))
        #expect(!text.contains(#"hb_request_errors{http_route="/whole""#))
        #expect(text.contains(#"http_server_request_duration_count{http_route="/stream",http_request_method="GET",http_response_status_code="200"} 1"#))
        #expect(text.contains(#"http_server_active_requests{http_request_method="GET"} 0"#))
    }
}
