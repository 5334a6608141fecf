import Common
@testable import DataPlane
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTesting
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import TestSupport
import Testing

/// The data plane's HTTP/1.1 transport, spoken to over a raw socket: what a client sees on the wire
/// (pipelining, keep-alive, `Connection: close`, the body limit, streamed chunks, bad requests).
@Suite struct BufferedHTTP1ChannelTests {
    static let maxBodyBytes = 64

    /// Bytes received on one client connection, and whether the server closed it.
    final class RawConnection: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        private let state = Mutex<(text: String, closed: Bool)>(("", false))
        private let channel = Mutex<(any Channel)?>(nil)

        static func open(port: Int) async throws -> RawConnection {
            let connection = RawConnection()
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelInitializer { $0.pipeline.addHandler(connection) }
                .connect(host: "127.0.0.1", port: port).get()
            connection.channel.withLock { $0 = channel }
            return connection
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let text = String(buffer: unwrapInboundIn(data))
            state.withLock { $0.text += text }
        }

        func channelInactive(context: ChannelHandlerContext) {
            state.withLock { $0.closed = true }
        }

        func send(_ text: String) async throws {
            try await channel.withLock { $0! }.writeAndFlush(ByteBuffer(string: text)).get()
        }

        var text: String { state.withLock { $0.text } }
        var closed: Bool { state.withLock { $0.closed } }

        /// Waits (10 s at most) until `condition` holds for what was received; false if it never did.
        func wait(until condition: (String, Bool) -> Bool) async throws -> Bool {
            try await eventually { state.withLock { condition($0.text, $0.closed) } }
        }

        func close() { channel.withLock { $0?.close(promise: nil) } }

        /// Half-closes: the client has sent all it will (as `nc -N` or a shell pipe does), and still reads.
        func closeOutput() async throws {
            try await channel.withLock { $0! }.close(mode: .output).get()
        }
    }

    /// Lets a test decide when the streaming route writes its second chunk.
    final class Gate: Sendable {
        private let opened = Mutex(false)
        func open() { opened.withLock { $0 = true } }
        func wait() async throws {
            _ = try await eventually { opened.withLock { $0 } }
        }
    }

    static func app(gates: (first: Gate, second: Gate) = (Gate(), Gate()),
                    onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }) -> some ApplicationProtocol {
        let router = Router(context: RungateRequestContext.self)
        router.post("/echo") { request, _ in
            Response(status: .ok, body: .init(byteBuffer: try await request.body.collect(upTo: maxBodyBytes)))
        }
        router.get("/slow") { _, _ in
            // A whole answer that waits for the test before it starts.
            try await gates.first.wait()
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "slow")))
        }
        router.get("/stream") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/event-stream"], body: .init { writer in
                try await gates.first.wait()
                try await writer.write(ByteBuffer(string: "data: first\n\n"))
                try await gates.second.wait()
                try await writer.write(ByteBuffer(string: "data: second\n\n"))
                try await writer.finish(nil)
            })
        }
        router.get("/ready-stream") { _, _ in
            // The first chunk is there as the answer starts (a provider's head and first event
            // read together): it is written before the route first waits.
            Response(status: .ok, headers: [.contentType: "text/event-stream"], body: .init { writer in
                try await writer.write(ByteBuffer(string: "data: ready\n\n"))
                try await gates.first.wait()
                try await writer.finish(nil)
            })
        }
        router.head("/head") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "not sent")))
        }
        router.get("/big-stream") { _, _ in
            Response(status: .ok, body: .init { writer in
                try await writer.write(ByteBuffer(repeating: UInt8(ascii: "x"), count: 20_000))
                try await writer.finish(nil)
            })
        }
        router.get("/own-date") { _, _ in
            Response(status: .ok, headers: [.date: "Thu, 01 Jan 1970 00:00:00 GMT", .server: "upstream", .contentLength: "0"])
        }
        router.get("/nothing") { _, _ in
            Response(status: .noContent, headers: [.transferEncoding: "chunked"])
        }
        let responder = router.buildResponder()
        return Application(responder: responder,
                           server: .bufferedHTTP1(responder: responder, maxBodyBytes: maxBodyBytes, serverName: "rungate-test"),
                           configuration: .init(address: .hostname("127.0.0.1", port: 0)), onServerRunning: onServerRunning,
                           logger: TestServers.logger)
    }

    /// Runs `body` with a client connection to a live server of `app(gates:)`, closed afterwards.
    static func withConnection(gates: (first: Gate, second: Gate) = (Gate(), Gate()),
                               _ body: @escaping @Sendable (RawConnection) async throws -> Void) async throws {
        try await app(gates: gates).test(.live) { client in
            let connection = try await RawConnection.open(port: client.port!)
            defer { connection.close() }
            try await body(connection)
        }
    }

    static func post(_ body: String, close: Bool = false) -> String {
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: \(body.utf8.count)\r\n\(close ? "Connection: close\r\n" : "")\r\n\(body)"
    }

    @Test func pipelinedRequestsOnOneConnectionAreAnsweredInOrder() async throws {
        try await Self.withConnection { connection in
            try await connection.send(Self.post("one") + Self.post("two"))
            #expect(try await connection.wait { text, _ in text.hasSuffix("two") })
            let answers = connection.text.components(separatedBy: "HTTP/1.1 200 OK\r\n").filter { !$0.isEmpty }
            #expect(answers.count == 2)
            #expect(answers.first?.hasSuffix("\r\n\r\none") == true)
            for answer in answers {
                let headers = answer.lowercased()
                #expect(headers.contains("content-length: 3\r\n"))
                #expect(headers.contains("server: rungate-test\r\n"))
                #expect(headers.contains("date: "))
            }
            #expect(!connection.closed)
        }
    }

    /// The connection's `Date` and `Server` are the only ones an answer carries: an answer's own
    /// (a provider's, passed through) are replaced, not repeated.
    @Test func anAnswersDateAndServerAreTheConnections() async throws {
        try await Self.withConnection { connection in
            try await connection.send("GET /own-date HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(try await connection.wait { text, _ in text.hasSuffix("\r\n\r\n") })
            let lines = connection.text.lowercased().components(separatedBy: "\r\n")
            #expect(lines.filter { $0.hasPrefix("server: ") } == ["server: rungate-test"])
            let dates = lines.filter { $0.hasPrefix("date: ") }
            #expect(dates.count == 1)
            #expect(dates.first?.hasSuffix(" gmt") == true && dates.first?.contains("1970") == false)
            #expect(lines.contains("content-length: 0"))
        }
    }

    /// Requests that arrive while an answer is still being made wait for it, in order — a slow
    /// answer first, then an echo, then a request that expects `100 Continue`, which is told to go
    /// on only once the answers ahead of it are written (so the two cannot interleave on the wire).
    @Test func requestsPipelinedBehindASlowAnswerWaitForIt() async throws {
        let gates = (first: Gate(), second: Gate())
        try await Self.withConnection(gates: gates) { connection in
            try await connection.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n" + Self.post("two")
                + "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
            try await Task.sleep(for: .milliseconds(100))
            #expect(connection.text.isEmpty)
            gates.first.open()
            #expect(try await connection.wait { text, _ in text.hasSuffix("HTTP/1.1 100 Continue\r\n\r\n") })
            try await connection.send("three")
            #expect(try await connection.wait { text, _ in text.hasSuffix("three") })
            let parts = connection.text.components(separatedBy: "HTTP/1.1 ")
            #expect(parts.count == 5)
            #expect(parts[1].hasPrefix("200 OK") && parts[1].hasSuffix("\r\n\r\nslow"))
            #expect(parts[2].hasPrefix("200 OK") && parts[2].hasSuffix("\r\n\r\ntwo"))
            #expect(parts[3] == "100 Continue\r\n\r\n")
            #expect(parts[4].hasPrefix("200 OK") && parts[4].hasSuffix("\r\n\r\nthree"))
            #expect(!connection.closed)
        }
    }

    /// A client that closes its side after sending (a shell pipe into `nc -N`; any client that
    /// leaves) gets every answer it asked for, and then the server closes its side too. It used
    /// not to: every connection a client ended stayed open on the server (CLOSE-WAIT, a descriptor
    /// and its buffers) until the process exited.
    @Test func aClientThatHalfClosesIsAnsweredAndThenClosed() async throws {
        try await Self.withConnection { connection in
            try await connection.send(Self.post("one") + Self.post("two"))
            try await connection.closeOutput()
            #expect(try await connection.wait { _, closed in closed })
            #expect(connection.text.components(separatedBy: "HTTP/1.1 200 OK\r\n").count == 3)
            #expect(connection.text.hasSuffix("\r\n\r\ntwo"))
        }
    }

    /// Graceful shutdown (SIGTERM): an idle keep-alive connection is closed at once; an answer in
    /// flight is completed — saying `Connection: close` — and its connection closed after it; the
    /// server stops once both are closed.
    @Test func aGracefulShutdownCompletesTheAnswerInFlightAndClosesIdleConnections() async throws {
        let gates = (first: Gate(), second: Gate())
        let port = Mutex<Int?>(nil)
        let app = Self.app(gates: gates) { channel in port.withLock { $0 = channel.localAddress?.port } }
        let group = ServiceGroup(configuration: .init(services: [app], logger: TestServers.logger))
        let stopped = Mutex(false)
        let running = Task {
            try await group.run()
            stopped.withLock { $0 = true }
        }
        defer { running.cancel() }
        _ = try await eventually { port.withLock { $0 } != nil }
        let serverPort = try #require(port.withLock { $0 })

        let idle = try await RawConnection.open(port: serverPort)
        defer { idle.close() }
        try await idle.send(Self.post("one"))
        #expect(try await idle.wait { text, _ in text.hasSuffix("one") })
        let busy = try await RawConnection.open(port: serverPort)
        defer { busy.close() }
        try await busy.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        try await Task.sleep(for: .milliseconds(100))

        await group.triggerGracefulShutdown()
        #expect(try await idle.wait { _, closed in closed })
        #expect(!busy.closed)
        gates.first.open()
        #expect(try await busy.wait { _, closed in closed })
        #expect(busy.text.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(busy.text.lowercased().contains("connection: close\r\n"))
        #expect(busy.text.hasSuffix("\r\n\r\nslow"))
        #expect(try await eventually { stopped.withLock { $0 } })
    }

    @Test func aBodyPastTheLimitIsRefusedAndTheConnectionStaysUsable() async throws {
        try await Self.withConnection { connection in
            // Sent in two writes, chunked, so the limit is crossed while the body is still arriving.
            let chunk = String(repeating: "x", count: 40)
            try await connection.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n28\r\n\(chunk)\r\n")
            try await connection.send("28\r\n\(chunk)\r\n0\r\n\r\n")
            #expect(try await connection.wait { text, _ in text.contains("\r\n\r\n") })
            #expect(connection.text.hasPrefix("HTTP/1.1 413 "))
            try await connection.send(Self.post("after"))
            #expect(try await connection.wait { text, _ in text.hasSuffix("after") })
            #expect(!connection.closed)
        }
    }

    @Test func connectionCloseClosesAfterTheAnswer() async throws {
        try await Self.withConnection { connection in
            try await connection.send(Self.post("bye", close: true))
            #expect(try await connection.wait { _, closed in closed })
            #expect(connection.text.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(connection.text.lowercased().contains("connection: close\r\n"))
            #expect(connection.text.hasSuffix("bye"))
        }
    }

    /// A stream's head leaves before its first chunk, and chunks leave as they are written, not
    /// when the answer ends: the route writes each chunk only after the client has what came before.
    @Test func streamedHeadAndChunksLeaveAsTheyAreWritten() async throws {
        let gates = (first: Gate(), second: Gate())
        try await Self.withConnection(gates: gates) { connection in
            try await connection.send("GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(try await connection.wait { text, _ in text.hasPrefix("HTTP/1.1 200 OK\r\n") && text.contains("\r\n\r\n") })
            #expect(!connection.text.contains("data: first"))
            gates.first.open()
            #expect(try await connection.wait { text, _ in text.contains("data: first") })
            #expect(!connection.text.contains("data: second"))
            gates.second.open()
            #expect(try await connection.wait { text, _ in text.hasSuffix("0\r\n\r\n") })
            #expect(connection.text.lowercased().contains("transfer-encoding: chunked"))
            #expect(connection.text.contains("data: second"))
        }
    }

    /// Framing as RFC 9112 §6 has it: a stream's events go as chunks (length in hex, the event, a line
    /// end; a last chunk of length 0); an answer to HEAD carries the length its GET would and no
    /// body; a 204 carries neither a length nor a transfer coding — and the connection goes on.
    @Test func answersAreFramedAsTheirStatusAndMethodRequire() async throws {
        let gates = (first: Gate(), second: Gate())
        gates.first.open()
        try await Self.app(gates: gates).test(.live) { client in
            let connection = try await RawConnection.open(port: client.port!)
            defer { connection.close() }
            try await connection.send("GET /ready-stream HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(try await connection.wait { text, _ in text.hasSuffix("0\r\n\r\n") })
            #expect(connection.text.hasSuffix("\r\n\r\nd\r\ndata: ready\n\n\r\n0\r\n\r\n"), "\(connection.text)")
            #expect(connection.text.lowercased().components(separatedBy: "transfer-encoding: chunked\r\n").count == 2)
            #expect(!connection.text.lowercased().contains("content-length"))
            // A large part goes as it is, between its size line and its line end.
            try await connection.send("GET /big-stream HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(try await connection.wait { text, _ in text.hasSuffix("x\r\n0\r\n\r\n") })
            #expect(connection.text.hasSuffix("\r\n\r\n4e20\r\n" + String(repeating: "x", count: 20_000) + "\r\n0\r\n\r\n"))

            let head = try await RawConnection.open(port: client.port!)
            defer { head.close() }
            try await head.send("HEAD /head HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(try await head.wait { text, _ in text.hasSuffix("\r\n\r\n") })
            #expect(head.text.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(head.text.lowercased().contains("content-length: 8\r\n"))
            try await head.send("GET /nothing HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(try await head.wait { text, _ in text.contains("HTTP/1.1 204 No Content\r\n") && text.hasSuffix("\r\n\r\n") })
            let answers = head.text.components(separatedBy: "HTTP/1.1 204 No Content\r\n")
            #expect(answers[0].hasSuffix("\r\n\r\n") && !answers[0].contains("not sent"), "the HEAD answer carried a body")
            #expect(!answers[1].lowercased().contains("content-length") && !answers[1].lowercased().contains("transfer-encoding"))
            #expect(answers[1].lowercased().contains("date: "))
            #expect(!head.closed)
        }
    }

    /// A stream whose first chunk is already there leaves with its head in one TCP segment: one
    /// wake-up of the client, not two (the kernel counts the segments: TCP_INFO's tcpi_data_segs_in).
    @Test func aStreamsHeadLeavesWithAFirstChunkThatIsAlreadyThere() async throws {
        let gates = (first: Gate(), second: Gate())
        try await Self.app(gates: gates).test(.live) { client in
            let socket = try PlainSocket(port: client.port!)
            defer { socket.close() }
            try socket.send("GET /ready-stream HTTP/1.1\r\nHost: t\r\n\r\n")
            let received = try socket.receive(until: "data: ready")
            #expect(received.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(socket.dataSegmentsReceived == 1, "head and first chunk arrived in \(socket.dataSegmentsReceived) segments")
            gates.first.open()
            #expect(try socket.receive(until: "0\r\n\r\n").hasSuffix("0\r\n\r\n"))
        }
    }

    /// `Expect: 100-continue` (curl asks it for large bodies, then waits a second for an answer):
    /// the client is told to go on before it sends the body; one announced past the limit is
    /// refused at once, without its body, and the connection closes.
    @Test func aClientThatExpects100ContinueIsToldToGoOnOrRefusedAtOnce() async throws {
        try await Self.app().test(.live) { client in
            let connection = try await RawConnection.open(port: client.port!)
            defer { connection.close() }
            try await connection.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
            #expect(try await connection.wait { text, _ in text.hasSuffix("\r\n\r\n") })
            #expect(connection.text == "HTTP/1.1 100 Continue\r\n\r\n")
            try await connection.send("hello")
            #expect(try await connection.wait { text, _ in text.hasSuffix("hello") })
            #expect(connection.text.hasPrefix("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"))
            #expect(!connection.closed)

            let refused = try await RawConnection.open(port: client.port!)
            defer { refused.close() }
            try await refused.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: \(Self.maxBodyBytes + 1)\r\nExpect: 100-continue\r\n\r\n")
            #expect(try await refused.wait { _, closed in closed })
            #expect(refused.text.hasPrefix("HTTP/1.1 413 "))
            #expect(refused.text.lowercased().contains("connection: close\r\n"))
        }
    }

    /// An HTTP/1.0 client (nginx's `proxy_pass` by default) is answered in HTTP/1.0: keep-alive only
    /// when asked for and the answer has a length; a stream unchunked, ended by closing.
    @Test func anHTTP10ClientIsAnsweredInHTTP10() async throws {
        let gates = (first: Gate(), second: Gate())
        try await Self.app(gates: gates).test(.live) { client in
            let plain = try await RawConnection.open(port: client.port!)
            defer { plain.close() }
            try await plain.send("POST /echo HTTP/1.0\r\nContent-Length: 3\r\n\r\none")
            #expect(try await plain.wait { _, closed in closed })
            #expect(plain.text.hasPrefix("HTTP/1.0 200 OK\r\n"))
            #expect(plain.text.lowercased().contains("connection: close\r\n"))
            #expect(plain.text.hasSuffix("\r\n\r\none"))

            let kept = try await RawConnection.open(port: client.port!)
            defer { kept.close() }
            let keepAlive = "POST /echo HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\n"
            try await kept.send(keepAlive + "one")
            #expect(try await kept.wait { text, _ in text.hasSuffix("one") })
            try await kept.send(keepAlive + "two")
            #expect(try await kept.wait { text, _ in text.hasSuffix("two") })
            #expect(kept.text.components(separatedBy: "HTTP/1.0 200 OK\r\n").count == 3)
            #expect(kept.text.lowercased().contains("connection: keep-alive\r\n"))
            #expect(!kept.closed)

            let stream = try await RawConnection.open(port: client.port!)
            defer { stream.close() }
            try await stream.send("GET /ready-stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            #expect(try await stream.wait { text, _ in text.hasSuffix("\r\n\r\ndata: ready\n\n") })
            gates.first.open()
            #expect(try await stream.wait { _, closed in closed })
            #expect(stream.text.hasPrefix("HTTP/1.0 200 OK\r\n"))
            #expect(!stream.text.lowercased().contains("transfer-encoding"))
            #expect(stream.text.lowercased().contains("connection: close\r\n"))
            #expect(stream.text.hasSuffix("\r\n\r\ndata: ready\n\n"))
        }
    }

    @Test func aMalformedRequestGets400AndTheConnectionCloses() async throws {
        try await Self.withConnection { connection in
            try await connection.send("NOT HTTP AT ALL\r\n\r\n")
            #expect(try await connection.wait { _, closed in closed })
            #expect(connection.text.hasPrefix("HTTP/1.1 400 "))
        }
    }

    @Test func theDateHeaderIsAnIMFFixdate() {
        #expect(HTTPDate.format(0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(HTTPDate.format(1_795_392_000) == "Mon, 23 Nov 2026 00:00:00 GMT")
    }
}

/// A blocking client socket, for what only the kernel knows about a connection (segments received).
private final class PlainSocket {
    private let descriptor: Int32
    private var received = ""

    struct Failure: Error { let what: String }

    init(port: Int) throws {
        descriptor = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw Failure(what: "socket") }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw Failure(what: "connect") }
    }

    func send(_ text: String) throws {
        let sent = Array(text.utf8).withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, 0) }
        guard sent == text.utf8.count else { throw Failure(what: "send") }
    }

    /// Everything received so far, once it contains `marker`.
    func receive(until marker: String) throws -> String {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !received.contains(marker) {
            let count = buffer.withUnsafeMutableBytes { Glibc.recv(descriptor, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { throw Failure(what: "recv before \(marker)") }
            received += String(decoding: buffer[..<count], as: UTF8.self)
        }
        return received
    }

    /// TCP_INFO's tcpi_data_segs_in (Linux 4.6 and later), read at its offset in `struct tcp_info`.
    var dataSegmentsReceived: UInt32 {
        var info = [UInt8](repeating: 0, count: 256)
        var length = socklen_t(info.count)
        _ = info.withUnsafeMutableBytes { getsockopt(descriptor, Int32(IPPROTO_TCP), TCP_INFO, $0.baseAddress, &length) }
        return info.withUnsafeBytes { $0.load(fromByteOffset: 152, as: UInt32.self) }
    }

    func close() { _ = Glibc.close(descriptor) }
}
