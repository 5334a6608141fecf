import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import ServiceLifecycle

/// HTTP/1.1 to providers, on NIO channels: pooled keep-alive connections (TLS with SNI for https),
/// each request written in one flush, the answer's body streamed with backpressure, redirects never
/// followed (a configured URL cannot bounce a request — and its key — elsewhere). Built for the data
/// plane's hot path instead of AsyncHTTPClient, whose per-request machinery (a task and a state
/// machine per request, head and body in separate flushes) was about a third of the data plane's
/// samples (bench/RESULTS.md).
/// Shut down after the server has drained, so in-flight calls finish.
final class UpstreamClient: Service, Sendable {
    let connectTimeout: TimeAmount
    /// Longest silence mid-answer.
    let readTimeout: TimeAmount
    /// Longest a whole call (streams included) may take.
    let requestTimeout: TimeAmount
    let idleTimeout: TimeAmount
    private let group: MultiThreadedEventLoopGroup
    private let pool: UpstreamConnectionPool
    private let tls: NIOSSLContext?

    init(connectTimeout: TimeAmount = .seconds(5), readTimeout: TimeAmount = .seconds(120), requestTimeout: TimeAmount = .seconds(600),
         idleTimeout: TimeAmount = .seconds(60), maxIdleConnections: Int = 1024, group: MultiThreadedEventLoopGroup = .singleton) {
        self.connectTimeout = connectTimeout
        self.readTimeout = readTimeout
        self.requestTimeout = requestTimeout
        self.idleTimeout = idleTimeout
        self.group = group
        self.pool = UpstreamConnectionPool(maxIdle: maxIdleConnections)
        // The system's trust roots, certificate and host name verified; nil only if they cannot be
        // loaded, and then https calls fail as unreachable.
        self.tls = try? NIOSSLContext(configuration: .makeClientConfiguration())
    }

    /// Sends a request and returns as soon as the answer's head has arrived — with its body, for an
    /// answer of known, bounded length (see `UpstreamConnectionHandler`). `headers` carry no `Host`
    /// or `Content-Length` (`HeaderFilter.upstream` leaves them out): both are added here.
    func execute(_ method: HTTPMethod, url: UpstreamURL, headers: HTTPHeaders, body: ByteBuffer? = nil, timeout: TimeAmount? = nil) async throws -> UpstreamResponse {
        let deadline = NIODeadline.now() + (timeout ?? requestTimeout)
        assert(!headers.contains(name: "host") && !headers.contains(name: "content-length"), "the caller's headers set what is set here")
        var headers = headers
        headers.add(name: "host", value: url.endpoint.hostHeader)
        if let body {
            headers.add(name: "content-length", value: String(body.readableBytes))
        } else if method == .POST || method == .PUT || method == .PATCH {
            headers.add(name: "content-length", value: "0")  // a method that has a body says it is empty
        }
        guard let head = RequestEncoding.head(method: method, target: url.target, headers: headers, allocator: Self.allocator) else {
            throw UpstreamError.invalidRequest
        }
        // A reused connection the provider closed while idle fails before a byte of the answer:
        // the provider never saw the request, so it goes once more, on a new connection.
        var firstAttempt = true
        while true {
            let loop = MultiThreadedEventLoopGroup.currentEventLoop
            let pooled = firstAttempt ? pool.lease(url.endpoint, on: loop) : nil
            firstAttempt = false
            let connection: UpstreamConnection
            if let pooled {
                connection = pooled
            } else {
                connection = try await connect(url.endpoint, on: loop ?? group.any(), deadline: deadline)
            }
            do {
                return try await connection.send(head, method: method, body: body, readTimeout: readTimeout, deadline: deadline)
            } catch UpstreamError.closedBeforeAnswer where pooled != nil {
                continue
            } catch UpstreamError.closedBeforeAnswer {
                throw UpstreamError.connectionClosed
            }
        }
    }

    private static let allocator = ByteBufferAllocator()

    func run() async throws {
        try? await gracefulShutdown()
        pool.shutDown()
    }

    private func connect(_ endpoint: UpstreamEndpoint, on loop: any EventLoop, deadline: NIODeadline) async throws -> UpstreamConnection {
        guard !pool.isShutDown else { throw UpstreamError.shutDown }
        let tls: NIOSSLContext?
        if endpoint.tls {
            guard let context = self.tls else { throw UpstreamError.connectFailed }
            tls = context
        } else {
            tls = nil
        }
        let idleTimeout = self.idleTimeout
        let serverName = endpoint.isIPAddress ? nil : endpoint.host
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(min(connectTimeout, max(deadline - .now(), .milliseconds(1))))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let tls { try pipeline.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName)) }
                    // Of NIO's HTTP client handlers only the answer's decoder: the request is
                    // encoded by `RequestEncoding` and written below the decoder as bytes.
                    let answers = HTTPResponseDecoder(leftOverBytesStrategy: .dropBytes)
                    let decoding = ByteToMessageHandler(answers)
                    try pipeline.addHandler(decoding)
                    try pipeline.addHandler(UpstreamConnectionHandler(idleTimeout: idleTimeout, answers: answers, decoding: decoding))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: endpoint.host, port: endpoint.port).get()
        } catch ChannelError.connectTimeout {
            throw UpstreamError.connectTimeout
        } catch {
            throw UpstreamError.connectFailed
        }
        let pool = self.pool
        return try await channel.eventLoop.submit {
            let handler = try channel.pipeline.syncOperations.handler(type: UpstreamConnectionHandler.self)
            let connection = UpstreamConnection(endpoint: endpoint, channel: channel, handler: NIOLoopBound(handler, eventLoop: channel.eventLoop))
            // Strong references, dropped by the handler when the channel closes.
            handler.onReusable = { pool.release(connection) }
            handler.onClose = { pool.remove(connection) }
            return connection
        }.get()
    }
}
