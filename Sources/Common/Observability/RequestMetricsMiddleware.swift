import Dispatch
import Hummingbird
import Metrics

/// Request counts, durations and errors per route, under the names Hummingbird's `MetricsMiddleware`
/// uses (`hb.requests`, `http.server.request.duration`, `hb.request.errors`,
/// `http.server.active_requests`), so dashboards built on those keep working.
///
/// Why not Hummingbird's own: it wraps every response body in a closure to record after the write,
/// which turns a whole answer (one buffer) into a streamed one — head, body and end then leave in
/// separate writes and flushes (three trips through the async writer, two TCP segments; a client
/// with Nagle on waits for the second). Here a body whose length is known is recorded when the
/// handler returns and written in one piece; only bodies of unknown length (streams) are wrapped,
/// so their duration still covers the whole stream.
public struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: RequestMetrics

    /// `factory`: where the metrics go (the process's `MetricsSystem` unless a test passes its own).
    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.metrics = RequestMetrics(factory: factory)
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = DispatchTime.now().uptimeNanoseconds
        let active = metrics.active(method: request.method)
        active.increment()
        do {
            var response = try await next(request, context)
            let route = context.endpointPath ?? "Unknown", method = request.method, status = response.status
            let metrics = self.metrics
            let record: @Sendable () -> Void = {
                metrics.record(route: route, method: method, status: status, nanoseconds: DispatchTime.now().uptimeNanoseconds - started)
                active.decrement()
            }
            guard response.body.contentLength == nil else {
                record()
                return response
            }
            let body = response.body
            response.body = ResponseBody { writer in
                defer { record() }
                try await body.write(writer)
            }
            return response
        } catch {
            // Rungate's own errors count under the status they answer with (Hummingbird's counted them as 500).
            let status = (error as? RungateError)?.status ?? (error as? any HTTPResponseError)?.status ?? .internalServerError
            metrics.record(route: context.endpointPath ?? "NotFound", method: request.method, status: status,
                           nanoseconds: DispatchTime.now().uptimeNanoseconds - started, failed: true)
            active.decrement()
            throw error
        }
    }
}

/// The metric handles, made once per route, method and status.
final class RequestMetrics: Sendable {
    private struct Key: Hashable {
        let route: String
        let method: HTTPRequest.Method
        let status: Int
    }

    private struct Handles: Sendable {
        let requests: Counter
        let duration: Timer
    }

    private let factory: any MetricsFactory
    private let byRoute = MetricHandles<Key, Handles>()
    private let errorsByRoute = MetricHandles<Key, Counter>()
    private let byMethod = MetricHandles<HTTPRequest.Method, Meter>()

    init(factory: any MetricsFactory) {
        self.factory = factory
    }

    func active(method: HTTPRequest.Method) -> Meter {
        byMethod.handle(method) {
            Meter(label: "http.server.active_requests", dimensions: [("http.request.method", method.rawValue)], factory: factory)
        }
    }

    func record(route: String, method: HTTPRequest.Method, status: HTTPResponse.Status, nanoseconds: UInt64, failed: Bool = false) {
        let key = Key(route: route, method: method, status: status.code)
        let handles = byRoute.handle(key) {
            let dimensions = [("http.route", route), ("http.request.method", method.rawValue), ("http.response.status_code", String(status.code))]
            return Handles(
                requests: Counter(label: "hb.requests", dimensions: dimensions, factory: factory),
                duration: Timer(label: "http.server.request.duration", dimensions: dimensions, preferredDisplayUnit: .seconds, factory: factory))
        }
        handles.requests.increment()
        handles.duration.recordNanoseconds(Int64(clamping: nanoseconds))
        guard failed else { return }
        // Made on the first failure only: no series of zeros for routes that never failed.
        errorsByRoute.handle(key) {
            Counter(label: "hb.request.errors", dimensions: [
                ("http.route", route), ("http.request.method", method.rawValue), ("error.type", String(status.code)),
            ], factory: factory)
        }.increment()
    }
}
