import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOPosix
import Synchronization
import Testing

@testable import DataPlane

/// The data plane's provider client against a real HTTP/1.1 server on loopback: keep-alive reuse,
/// a pooled connection the provider closed, timeouts, streamed bodies read with backpressure.
@Suite struct UpstreamClientTests {
    @Test func sequentialCallsShareOneKeepAliveConnection() async throws {
        try await withProvider { provider, client in
            for index in 0..<5 {
                let response = try await client.execute(.POST, url: provider.url("/hello?n=\(index)"), headers: ["x-test": "yes"], body: ByteBuffer(string: "ping"))
                #expect(response.status == .ok)
                #expect(String(buffer: try await response.body.collect(upTo: 1 << 20)) == "hello /hello?n=\(index) ping")
                // What the provider saw: its own host and port, the body's length, the caller's header.
                #expect(response.headers["x-seen-host"] == ["127.0.0.1:\(provider.port)"])
                #expect(response.headers["x-seen-content-length"] == ["4"])
                #expect(response.headers["x-seen-test"] == ["yes"])
            }
            #expect(provider.accepted == 1, "\(provider.connectionLog)")
        }
    }

    /// A call running on an event loop gets an idle connection of that loop or none (it then opens
    /// one there): borrowing another loop's sent the request and its answer across threads.
    @Test func aCallerOnAnEventLoopOnlyGetsThatLoopsIdleConnections() throws {
        let endpoint = UpstreamEndpoint(tls: false, host: "127.0.0.1", port: 9)
        let (first, second) = (EmbeddedEventLoop(), EmbeddedEventLoop())
        func connection(on loop: EmbeddedEventLoop) -> UpstreamConnection {
            let answers = HTTPResponseDecoder()
            let handler = UpstreamConnectionHandler(idleTimeout: .seconds(60), answers: answers, decoding: ByteToMessageHandler(answers))
            return UpstreamConnection(endpoint: endpoint, channel: EmbeddedChannel(loop: loop), handler: NIOLoopBound(handler, eventLoop: loop))
        }
        let pool = UpstreamConnectionPool()
        let onFirst = connection(on: first)
        pool.release(onFirst)
        #expect(pool.lease(endpoint, on: second) == nil)
        #expect(pool.lease(endpoint, on: first) === onFirst)
        #expect(pool.lease(endpoint, on: first) == nil)
        // A caller on no event loop takes any.
        let onSecond = connection(on: second)
        pool.release(onSecond)
        #expect(pool.lease(endpoint, on: nil) === onSecond)
    }

    @Test func aConnectionTheProviderClosedWhileIdleIsReplacedWithoutFailingTheCall() async throws {
        try await withProvider { provider, client in
            let first = try await client.execute(.GET, url: provider.url("/close-soon"), headers: [:])
            _ = try await first.body.collect(upTo: 1024)
            try await Task.sleep(for: .milliseconds(300))  // the provider has closed it by now
            let second = try await client.execute(.GET, url: provider.url("/hello"), headers: [:])
            #expect(String(buffer: try await second.body.collect(upTo: 1024)) == "hello /hello ")
            #expect(provider.accepted == 2, "\(provider.connectionLog)")
        }
    }

    @Test func silenceBeyondTheReadTimeoutFailsTheCall() async throws {
        try await withProvider(readTimeout: .milliseconds(300)) { provider, client in
            await #expect(throws: UpstreamError.readTimeout) {
                _ = try await client.execute(.GET, url: provider.url("/silent"), headers: [:])
            }
            // A stream that stops mid-way fails its reader the same way.
            let response = try await client.execute(.GET, url: provider.url("/stream-then-silent"), headers: [:])
            await #expect(throws: UpstreamError.readTimeout) { _ = try await response.body.collect(upTo: 1 << 20) }
        }
    }

    /// A bounded answer of known length comes whole with its head (no stream per call); an event
    /// stream still arrives chunk by chunk; an answer cut short in its body fails the call.
    @Test func anAnswerOfKnownLengthArrivesWholeAndAnEventStreamChunkByChunk() async throws {
        // A second of silence allowed: 300 ms timed out the 100 kB exchange on a loaded 2-core box.
        try await withProvider(readTimeout: .seconds(1)) { provider, client in
            let whole = try await client.execute(.POST, url: provider.url("/hello"), headers: [:], body: ByteBuffer(string: String(repeating: "y", count: 100_000)))
            var chunks: [ByteBuffer] = []
            for try await chunk in whole.body { chunks.append(chunk) }
            #expect(chunks.count == 1)
            #expect(chunks.first?.readableBytes == "hello /hello ".utf8.count + 100_000)
            let stream = try await client.execute(.GET, url: provider.url("/stream"), headers: [:])
            var count = 0
            for try await _ in stream.body { count += 1 }
            #expect(count > 1)
            await #expect(throws: UpstreamError.readTimeout) {
                _ = try await client.execute(.GET, url: provider.url("/partial-then-silent"), headers: [:])
            }
        }
    }

    /// An idle connection closes after the idle timeout, counted from its last use: calls spaced
    /// closer than that keep the one connection however long they go on.
    ///
    /// The gaps are measured, not assumed: in full parallel runs the test's task has resumed
    /// seconds late (two cooperative threads busy with other suites), and a gap longer than the
    /// timeout rightly costs a new connection. Only gaps known to be shorter (from the previous
    /// call's start to this call's end) must reuse, only one known to be longer must not.
    @Test func anIdleConnectionClosesAfterTheIdleTimeoutFromItsLastUse() async throws {
        let idleTimeout = Duration.seconds(2)
        try await withProvider(idleTimeout: TimeAmount(idleTimeout)) { provider, client in
            let clock = ContinuousClock()
            func call() async throws -> (started: ContinuousClock.Instant, ended: ContinuousClock.Instant, accepted: Int) {
                let started = clock.now
                _ = try await client.execute(.GET, url: provider.url("/hello"), headers: [:]).body.collect(upTo: 1024)
                return (started, clock.now, provider.accepted)
            }
            var previous = try await call()
            var keptSince = previous.started  // the one connection has served every call since
            var overslept = 0
            // Calls 400 ms apart until the connection has been kept twice the timeout.
            while keptSince.duration(to: previous.ended) < idleTimeout * 2 {
                try await Task.sleep(for: .milliseconds(400))
                let next = try await call()
                if previous.started.duration(to: next.ended) < idleTimeout {
                    #expect(next.accepted == previous.accepted, "a new connection after a gap under the idle timeout: \(provider.connectionLog)")
                } else {
                    overslept += 1
                    keptSince = next.started
                    try #require(overslept < 5, "the test's task resumed too late to space calls under the idle timeout, 5 times")
                }
                previous = next
            }
            try await Task.sleep(for: .milliseconds(3000))
            let after = try await call()
            #expect(after.accepted == previous.accepted + 1, "\(provider.connectionLog)")
        }
    }

    @Test func theWholeCallHasADeadline() async throws {
        try await withProvider { provider, client in
            await #expect(throws: UpstreamError.deadlineExceeded) {
                _ = try await client.execute(.GET, url: provider.url("/silent"), headers: [:], timeout: .milliseconds(300))
            }
        }
    }

    /// The timer of a connection's exchanges stays pending between them: a call with a shorter
    /// deadline than the one before it on the same connection still ends at its own.
    @Test func aShortDeadlineAfterALongerOneOnTheSameConnectionIsKept() async throws {
        try await withProvider(readTimeout: .seconds(30)) { provider, client in
            let first = try await client.execute(.GET, url: provider.url("/hello"), headers: [:], timeout: .seconds(60))
            _ = try await first.body.collect(upTo: 1024)
            // Not the read timeout's error: the deadline, 300 ms in, ended it.
            await #expect(throws: UpstreamError.deadlineExceeded) {
                _ = try await client.execute(.GET, url: provider.url("/silent"), headers: [:], timeout: .milliseconds(300))
            }
            #expect(provider.accepted == 1, "the same connection: \(provider.connectionLog)")
        }
    }

    @Test func aLongStreamArrivesWholeAndInOrderToASlowReader() async throws {
        try await withProvider { provider, client in
            let response = try await client.execute(.GET, url: provider.url("/stream"), headers: [:])
            var received = ByteBuffer()
            var chunks = 0
            for try await var chunk in response.body {
                chunks += 1
                received.writeBuffer(&chunk)
                // Slower than the provider: the client stops reading and resumes (backpressure).
                if chunks % 25 == 0 { try await Task.sleep(for: .milliseconds(5)) }
            }
            #expect(String(buffer: received) == provider.streamed)
            // The connection was returned and serves the next call.
            _ = try await client.execute(.GET, url: provider.url("/hello"), headers: [:]).body.collect(upTo: 1024)
            #expect(provider.accepted == 1, "\(provider.connectionLog)")
        }
    }

    @Test func aReaderThatStopsEarlyClosesTheConnectionAndTheNextCallOpensAnother() async throws {
        try await withProvider { provider, client in
            do {
                // An answer still under way (its end never comes): the agent went away mid-stream.
                let response = try await client.execute(.GET, url: provider.url("/stream-then-silent"), headers: [:])
                var iterator = response.body.makeAsyncIterator()
                _ = try await iterator.next()
            }
            let next = try await client.execute(.GET, url: provider.url("/hello"), headers: [:])
            #expect(String(buffer: try await next.body.collect(upTo: 1024)) == "hello /hello ")
            #expect(provider.accepted == 2, "\(provider.connectionLog)")
        }
    }

    @Test func aRedirectIsReturnedAsItIsNeverFollowed() async throws {
        try await withProvider { provider, client in
            let response = try await client.execute(.POST, url: provider.url("/redirect"), headers: ["authorization": "Bearer sk-secret"],
                                                    body: ByteBuffer(string: "{}"))
            #expect(response.status == .found)
            #expect(response.headers["location"] == ["http://127.0.0.1:1/elsewhere"])
            _ = try await response.body.collect(upTo: 1024)
            #expect(provider.requests == ["/redirect"], "the key went nowhere else")
        }
    }

    @Test func aRefusedConnectionAndABadURLAreReportedAsSuch() async throws {
        let client = UpstreamClient(readTimeout: .seconds(5))
        let port = try await closedPort()
        await #expect(throws: UpstreamError.connectFailed) {
            _ = try await client.execute(.GET, url: "http://127.0.0.1:\(port)/v1/models", headers: [:])
        }
        await #expect(throws: UpstreamError.invalidURL) { _ = try await client.execute(.GET, url: "ftp://example.com/x", headers: [:]) }
    }

    /// The request's head is written by Rungate in one pass: exactly the bytes HTTP/1.1 wants, and
    /// nothing at all when a stored value (a provider key, a base URL) would inject a field.
    @Test func aRequestHeadIsItsBytesOrNothing() throws {
        let allocator = ByteBufferAllocator()
        let headers: HTTPHeaders = ["authorization": "Bearer sk-test", "x-tab": "a\tb", "x-utf8": "ünï", "host": "api.example.com"]
        let head = try #require(RequestEncoding.head(method: .POST, target: "/v1/chat/completions?x=%20", headers: headers, allocator: allocator))
        #expect(String(buffer: head) == "POST /v1/chat/completions?x=%20 HTTP/1.1\r\nauthorization: Bearer sk-test\r\nx-tab: a\tb\r\n"
            + "x-utf8: ünï\r\nhost: api.example.com\r\n\r\n")
        #expect(RequestEncoding.head(method: .GET, target: "/", headers: [:], allocator: allocator).map { String(buffer: $0) } == "GET / HTTP/1.1\r\n\r\n")
        for value in ["sk\r\nx-injected: 1", "sk\n", "sk\u{0}", "sk\u{7F}", "sk\u{1B}"] {
            #expect(RequestEncoding.head(method: .POST, target: "/", headers: ["authorization": value], allocator: allocator) == nil, "\(value.debugDescription)")
        }
        for name in ["x bad", "x:bad", "", "x\r\nbad", "ü"] {
            #expect(RequestEncoding.head(method: .POST, target: "/", headers: [name: "v"], allocator: allocator) == nil, "\(name.debugDescription)")
        }
        for target in ["/a b", "/ü", "/a\r\nGET / HTTP/1.1", "", "/a\"b", "/{x}"] {
            #expect(RequestEncoding.head(method: .POST, target: target, headers: [:], allocator: allocator) == nil, "\(target.debugDescription)")
        }
        #expect(RequestEncoding.head(method: .RAW(value: "GET /x"), target: "/", headers: [:], allocator: allocator) == nil)
    }

    @Test func aRequestThatCannotBeSentSafelyIsRefusedBeforeAConnection() async throws {
        try await withProvider { provider, client in
            await #expect(throws: UpstreamError.invalidRequest) {
                _ = try await client.execute(.POST, url: provider.url("/echo"), headers: ["authorization": "Bearer sk\r\nx-injected: 1"],
                                             body: ByteBuffer(string: "{}"))
            }
            #expect(provider.accepted == 0)
            // A GET without a body says nothing of one; a POST without one says it is empty.
            let get = try await client.execute(.GET, url: provider.url("/echo"), headers: [:])
            #expect(get.headers["x-seen-content-length"] == [""])
            _ = try await get.body.collect(upTo: 1024)
            let post = try await client.execute(.POST, url: provider.url("/echo"), headers: [:])
            #expect(post.headers["x-seen-content-length"] == ["0"])
            #expect(String(buffer: try await post.body.collect(upTo: 1024)) == "hello /echo ")
        }
    }

    @Test func urlsAreSplitIntoEndpointAndTarget() {
        #expect(UpstreamURL("https://api.openai.com/v1/chat/completions") == .init(endpoint: .init(tls: true, host: "api.openai.com", port: 443), target: "/v1/chat/completions"))
        #expect(UpstreamURL("http://127.0.0.1:9090/v1/models?x=1#frag") == .init(endpoint: .init(tls: false, host: "127.0.0.1", port: 9090), target: "/v1/models?x=1"))
        #expect(UpstreamURL("http://[::1]:8080") == .init(endpoint: .init(tls: false, host: "::1", port: 8080), target: "/"))
        #expect(UpstreamURL("http://[::1]:8080")?.endpoint.hostHeader == "[::1]:8080")
        #expect(UpstreamURL("https://example.com:443/a")?.endpoint.hostHeader == "example.com")
        #expect(UpstreamURL("http://example.com?q")?.target == "/?q")
        #expect(UpstreamURL("http://exämple.com/ü?x=1") == .init(endpoint: .init(tls: false, host: "exämple.com", port: 80), target: "/ü?x=1"))
        for bad in ["example.com/v1", "http://", "http://user:pw@example.com/", "http://example.com:0/", "http://example.com:99999/", "http://[::1/"] {
            #expect(UpstreamURL(bad) == nil, "\(bad)")
        }
    }

    @Test func aCallsURLIsItsBaseURLWithTheEndpointsPathAsTheJoinedStringReads() throws {
        let bases = ["https://api.openai.com/v1", "http://127.0.0.1:9090", "http://[::1]:8080/", "http://example.com?q=1",
                     "http://example.com/v1#frag", "https://exämple.com/ü/v1"]
        for base in bases {
            for endpoint in ProviderEndpoint.allCases {
                #expect(endpoint.upstreamPath == String(endpoint.rawValue.dropFirst(3)))
                let appended = try #require(UpstreamURL(base)).appending(endpoint.upstreamPath)
                let joined = try #require(UpstreamURL(base + endpoint.upstreamPath))
                #expect(appended == joined, "\(base) + \(endpoint.upstreamPath)")
                // Appending again continues from what was appended.
                #expect(appended.appending("/x") == UpstreamURL(base + endpoint.upstreamPath + "/x"))
            }
        }
        #expect(UpstreamURL("http://example.com")?.appending("/models").target == "/models")
        #expect(UpstreamURL("http://example.com/v1")?.appending("/models").target == "/v1/models")
    }
}

extension UpstreamClient {
    /// A call to a URL given as text (the data plane's calls go to a key's base URL parsed once).
    func execute(_ method: HTTPMethod, url: String, headers: HTTPHeaders, body: ByteBuffer? = nil, timeout: TimeAmount? = nil) async throws -> UpstreamResponse {
        guard let url = UpstreamURL(url) else { throw UpstreamError.invalidURL }
        return try await execute(method, url: url, headers: headers, body: body, timeout: timeout)
    }
}

extension UpstreamURL {
    init(endpoint: UpstreamEndpoint, target: String) {
        self.init("\(endpoint.tls ? "https" : "http")://\(endpoint.host.contains(":") ? "[\(endpoint.host)]" : endpoint.host):\(endpoint.port)\(target)")!
    }
}

// MARK: A provider on loopback

/// An HTTP/1.1 server whose paths behave as the tests need; it counts the connections it accepts.
final class LoopbackProvider: Sendable {
    let channel: any Channel
    let connections = Connections()
    let streamed = (0..<400).map { "data: chunk \($0) " + String(repeating: "x", count: 200) + "\n\n" }.joined()

    var port: Int { channel.localAddress!.port! }
    /// Connections that carried at least one request (a stray connect from another test's client
    /// to a port this provider reused is not one of ours).
    var accepted: Int { connections.value.withLock { $0.values.filter { !$0.paths.isEmpty }.count } }
    /// Each connection: where it came from and what it asked, for failure messages.
    var connectionLog: String {
        connections.value.withLock { $0.sorted { $0.key < $1.key }.map { "#\($0.key) from \($0.value.remote): \($0.value.paths)" }.joined(separator: "; ") }
    }
    let seen = Paths()
    var requests: [String] { seen.value.withLock { $0 } }
    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    init() async throws {
        let connections = self.connections, streamed = self.streamed, seen = self.seen
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let number = connections.value.withLock { connections in
                    connections[connections.count] = Connections.Record(remote: channel.remoteAddress.map { "\($0)" } ?? "?")
                    return connections.count - 1
                }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Responder(streamed: streamed, seen: seen, connections: connections, number: number))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    final class Connections: Sendable {
        struct Record { let remote: String; var paths: [String] = [] }
        let value = Mutex<[Int: Record]>([:])
    }

    final class Paths: Sendable {
        let value = Mutex<[String]>([])
    }

    final class Responder: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let streamed: String
        let seen: Paths
        let connections: Connections
        let number: Int
        var head: HTTPRequestHead?
        var body = ByteBuffer()

        init(streamed: String, seen: Paths, connections: Connections, number: Int) {
            self.streamed = streamed
            self.seen = seen
            self.connections = connections
            self.number = number
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): self.head = head; body.clear()
            case .body(var chunk): body.writeBuffer(&chunk)
            case .end: if let head { respond(to: head, context: context) }
            }
        }

        private func respond(to request: HTTPRequestHead, context: ChannelHandlerContext) {
            let path = String(request.uri.prefix { $0 != "?" })
            seen.value.withLock { $0.append(path) }
            connections.value.withLock { $0[number]?.paths.append(path) }
            var headers: HTTPHeaders = ["x-seen-host": request.headers["host"].joined(), "x-seen-content-length": request.headers["content-length"].joined(),
                                        "x-seen-test": request.headers["x-test"].joined()]
            switch path {
            case "/silent":
                return
            case "/redirect":
                headers.add(name: "location", value: "http://127.0.0.1:1/elsewhere")
                headers.add(name: "content-length", value: "0")
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .found, headers: headers))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            case "/partial-then-silent":
                headers.add(name: "content-length", value: "100")
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "only ten..")))), promise: nil)
            case "/stream", "/stream-then-silent":
                headers.add(name: "content-type", value: "text/event-stream")
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
                let parts = path == "/stream" ? streamed.split(separator: "\n\n").map { $0 + "\n\n" } : ["data: first\n\n"]
                for part in parts { context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: String(part))))), promise: nil) }
                if path == "/stream" { context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil) }
            default:
                let answer = ByteBuffer(string: "hello \(request.uri) \(String(buffer: body))")
                headers.add(name: "content-length", value: String(answer.readableBytes))
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(answer))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
                if path == "/close-soon" {
                    // Keep-alive as far as the client knows, closed a moment later: an idle timeout.
                    let channel = context.channel
                    context.eventLoop.scheduleTask(in: .milliseconds(50)) { channel.close(promise: nil) }
                }
            }
        }
    }
}

private func withProvider(readTimeout: TimeAmount = .seconds(5), idleTimeout: TimeAmount = .seconds(60),
                          _ body: (LoopbackProvider, UpstreamClient) async throws -> Void) async throws {
    let provider = try await LoopbackProvider()
    let client = UpstreamClient(readTimeout: readTimeout, idleTimeout: idleTimeout)
    do {
        try await body(provider, client)
    } catch {
        try? await provider.channel.close()
        throw error
    }
    try await provider.channel.close()
}

/// A loopback port nothing listens on.
private func closedPort() async throws -> Int {
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
    let port = channel.localAddress!.port!
    try await channel.close()
    return port
}
