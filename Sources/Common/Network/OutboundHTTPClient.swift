import AsyncHTTPClient
import Logging
import NIOCore
import ServiceLifecycle

/// The HTTP client for calls out of Rungate (providers, webhook receivers, trace collectors):
/// pooled keep-alive connections, redirects never followed (a configured URL cannot bounce a
/// request — and its key or signature — elsewhere), explicit timeouts. Shut down after the server
/// has drained, so in-flight calls finish.
public final class OutboundHTTPClient: Service, Sendable {
    public let client: HTTPClient
    /// Longest a whole call (streams included) may take.
    public let requestTimeout: TimeAmount

    /// `retryingConnections: false` fails a call at once when its target refuses connections, for
    /// callers that retry on their own schedule (webhook deliveries, trace exports).
    public init(connectTimeout: TimeAmount = .seconds(5), readTimeout: TimeAmount = .seconds(120), requestTimeout: TimeAmount = .seconds(600),
                retryingConnections: Bool = true) {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: connectTimeout, read: readTimeout),
            connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 512))
        configuration.httpVersion = .automatic
        configuration.connectionPool.retryConnectionEstablishment = retryingConnections
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        self.requestTimeout = requestTimeout
    }

    public func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}
