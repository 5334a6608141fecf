import Foundation
import Hummingbird
import Prometheus

/// The state of one dependency as `/readyz` reports it.
public enum DependencyState: String, Sendable, Codable {
    case up
    case down
    /// Optional and not configured (e.g. Redis on a single-node data plane).
    case notConfigured = "not_configured"
}

/// A named readiness probe (`postgres`, `redis`, ...).
public struct ReadinessCheck: Sendable {
    public let name: String
    public let probe: @Sendable () async -> DependencyState

    public init(_ name: String, probe: @escaping @Sendable () async -> DependencyState) {
        self.name = name
        self.probe = probe
    }

    public static func postgres(_ database: Database) -> ReadinessCheck {
        ReadinessCheck("postgres") { await database.ping() ? .up : .down }
    }

    public static func redis(_ redis: RedisClient?) -> ReadinessCheck {
        ReadinessCheck("redis") {
            guard let redis else { return .notConfigured }
            return await redis.ping() ? .up : .down
        }
    }
}

/// `/healthz`, `/readyz` and `/metrics`, served by every process.
public enum OperationalRoutes {
    public static func add<Context: RequestContext>(
        to router: Router<Context>, service: String, checks: [ReadinessCheck], metrics: PrometheusCollectorRegistry
    ) {
        router.get("/healthz") { _, _ in
            jsonResponse(.ok, ["status": "ok", "service": .string(service)])
        }
        router.get("/readyz") { _, _ in
            let states = await withTaskGroup(of: (String, DependencyState).self) { group in
                for check in checks { group.addTask { (check.name, await check.probe()) } }
                var states: [String: JSONValue] = [:]
                var ready = true
                for await (name, state) in group {
                    states[name] = .string(state.rawValue)
                    if state == .down { ready = false }
                }
                return (states, ready)
            }
            return jsonResponse(
                states.1 ? .ok : .serviceUnavailable,
                ["status": states.1 ? "ready" : "not_ready", "service": .string(service), "checks": .object(states.0)])
        }
        router.get("/metrics") { _, _ in
            var buffer: [UInt8] = []
            metrics.emit(into: &buffer)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
        }
    }
}

/// A JSON response from a `JSONValue`.
public func jsonResponse(_ status: HTTPResponse.Status, _ value: JSONValue, headers: HTTPFields = [:]) -> Response {
    var headers = headers
    headers[.contentType] = "application/json"
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: JSONSerializer.bytes(value))))
}
