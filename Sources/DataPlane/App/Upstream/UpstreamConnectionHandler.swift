import NIOCore
import NIOHTTP1
import NIOSSL

/// One keep-alive HTTP/1.1 connection to a provider, one exchange at a time: writes the request in
/// one flush; a bounded answer of known length (not an event stream) is read whole and completes the
/// exchange at its end, any other completes it when its head arrives and streams its body into an
/// `UpstreamBody`, reading from the socket only while the body's reader keeps up. Enforces the read
/// timeout (silence mid-answer) and the call's deadline. Lives on its channel's event loop.
final class UpstreamConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    /// Nothing is written through this handler (it only holds reads back): the request's bytes are
    /// written below the answers' decoder (`requests`).
    typealias OutboundIn = Never
    typealias OutboundOut = ByteBuffer

    private enum Phase { case idle, awaitingHead, collectingBody, streamingBody, closed }

    /// The largest answer read whole before the caller sees it; a longer one is streamed.
    static let maxWholeBytes = 8 * 1024 * 1024

    /// Called on the event loop when an exchange ends and the connection can take another.
    var onReusable: (() -> Void)?
    /// Called on the event loop once, when the connection closes.
    var onClose: (() -> Void)?
    let idleTimeout: TimeAmount

    private var context: ChannelHandlerContext?
    /// The answers' decoder: told of each request's method (an answer to `HEAD` has no body), as
    /// it would be if the request passed through it.
    private let answers: HTTPResponseDecoder
    /// The decoder's handler, until its context is found.
    private var decoding: ByteToMessageHandler<HTTPResponseDecoder>?
    /// The decoder's context: what is written on it goes below the decoder, to the socket (or TLS).
    /// Through the decoder, each part of the request was boxed, cast back by a handler that only
    /// looks for a head, and passed on (~3.5 K instructions a call).
    private var requests: ChannelHandlerContext?
    private var phase = Phase.idle
    /// Counts exchanges, so a late signal from an earlier answer's body is ignored.
    private var exchange = 0
    /// The caller waiting for the answer's head, resumed exactly once (the exchange's end, or `fail`).
    private var waiting: UnsafeContinuation<UpstreamResponse, any Error>?
    private var source: UpstreamBody.Producer.Source?
    /// The head and the body so far of an answer read whole.
    private var collected: (head: HTTPResponseHead, body: ByteBuffer)?
    private var keepAlive = true
    private var receivedAnswerBytes = false
    private var readTimeout = TimeAmount.seconds(120)
    private var lastRead = NIODeadline.now()
    private var deadline = NIODeadline.distantFuture
    /// The exchange in progress's read timeout and deadline, one timer for both, and when it is
    /// due. Left pending when the exchange ends and moved on only when it fires (or when an exchange
    /// needs it sooner), as the idle timer is: scheduling one per exchange and cancelling it at the
    /// answer's end was ~6 K instructions a call (bench/RESULTS.md, session 33).
    private var exchangeTimer: (task: Scheduled<Void>, due: NIODeadline)?
    /// Scheduled when the connection first goes idle and moved on only when it fires: calls back
    /// to back do not schedule and cancel one each.
    private var idleTimer: Scheduled<Void>?
    private var idleSince = NIODeadline.now()
    /// The body's reader has enough buffered: socket reads wait (`heldRead`) until it asks for more.
    private var readsPaused = false
    private var heldRead = false

    init(idleTimeout: TimeAmount, answers: HTTPResponseDecoder, decoding: ByteToMessageHandler<HTTPResponseDecoder>) {
        self.idleTimeout = idleTimeout
        self.answers = answers
        self.decoding = decoding
    }

    var isIdle: Bool { phase == .idle && context?.channel.isActive == true }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        requests = decoding.flatMap { try? context.pipeline.syncOperations.context(handler: $0) }
        decoding = nil
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        requests = nil
    }

    // MARK: Exchanges

    /// Sends a request; `answer` gets the answer's head, or `UpstreamError` (`.closedBeforeAnswer`
    /// when the connection closed before a byte of the answer: a reused connection the provider had
    /// already closed). A write that fails closes the channel, and `channelInactive` ends the
    /// exchange: the write needs no promise of its own.
    func start(_ head: ByteBuffer, method: HTTPMethod, body: ByteBuffer?, readTimeout: TimeAmount, deadline: NIODeadline,
               answer: UnsafeContinuation<UpstreamResponse, any Error>) {
        guard phase == .idle, let context, let requests, context.channel.isActive else {
            answer.resume(throwing: UpstreamError.closedBeforeAnswer)
            return
        }
        exchange += 1
        phase = .awaitingHead
        waiting = answer
        receivedAnswerBytes = false
        self.readTimeout = readTimeout
        self.deadline = deadline
        lastRead = .now()
        armExchangeTimer(by: min(lastRead + readTimeout, deadline))
        answers.write(data: .head(Self.observedHead(method)))
        // Head and body leave in one flush: one system call for a small request. (The body's
        // length is in the head: nothing marks its end.)
        if let body, body.readableBytes > 0 {
            requests.write(wrapOutboundOut(head), promise: nil)
            requests.writeAndFlush(wrapOutboundOut(body), promise: nil)
        } else {
            requests.writeAndFlush(wrapOutboundOut(head), promise: nil)
        }
    }

    /// What the decoder reads of a request: only its method.
    private static func observedHead(_ method: HTTPMethod) -> HTTPRequestHead {
        switch method {
        case .POST: observedPOST
        case .GET: observedGET
        default: HTTPRequestHead(version: .http1_1, method: method, uri: "/")
        }
    }

    private static let observedPOST = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/")
    private static let observedGET = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastRead = .now()
        switch unwrapInboundIn(data) {
        case .head(let head):
            guard phase == .awaitingHead, let answer = waiting else { return }
            receivedAnswerBytes = true
            // Informational answers (100 Continue and kin) precede the real one.
            if head.status.code < 200 && head.status != .switchingProtocols { return }
            keepAlive = head.isKeepAlive
            if let length = head.headers.first(name: "content-length").flatMap({ Int($0) }), length <= Self.maxWholeBytes,
               !(head.headers.first(name: "content-type")?.hasPrefix("text/event-stream") ?? false) {
                phase = .collectingBody
                collected = (head, context.channel.allocator.buffer(capacity: min(length, 1 << 20)))
                return
            }
            let current = exchange, loop = context.eventLoop
            let bound = NIOLoopBound(self, eventLoop: loop)
            let body = UpstreamBody.Producer.makeSequence(
                elementType: ByteBuffer.self, failureType: (any Error).self,
                backPressureStrategy: .init(lowWatermark: 2, highWatermark: 8), finishOnDeinit: true,
                delegate: UpstreamBodyDelegate(
                    produceMoreCallback: { loop.execute { bound.value.resumeReading(exchange: current) } },
                    didTerminateCallback: { loop.execute { bound.value.readerGone(exchange: current) } }))
            source = body.source
            phase = .streamingBody
            waiting = nil
            answer.resume(returning: UpstreamResponse(status: head.status, headers: head.headers, body: UpstreamBody(chunks: body.sequence)))
        case .body(let chunk) where phase == .collectingBody:
            collected?.body.writeImmutableBuffer(chunk)
        case .body(let chunk):
            guard phase == .streamingBody, let source else { return }
            if source.yield(chunk) == .stopProducing { readsPaused = true }
        case .end where phase == .collectingBody:
            guard let (head, body) = collected, let answer = waiting else { return }
            collected = nil
            waiting = nil
            finishExchange(reusable: keepAlive)
            answer.resume(returning: UpstreamResponse(status: head.status, headers: head.headers, body: UpstreamBody(whole: body)))
        case .end:
            guard phase == .streamingBody, let source else { return }
            // Back in the pool before the reader learns of the end: a caller that reads to the end
            // and calls again finds this connection instead of opening another.
            finishExchange(reusable: keepAlive)
            source.finish()
        }
    }

    func read(context: ChannelHandlerContext) {
        if readsPaused {
            heldRead = true
        } else {
            context.read()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        switch phase {
        case .awaitingHead: fail(receivedAnswerBytes ? UpstreamError.connectionClosed : UpstreamError.closedBeforeAnswer)
        case .collectingBody, .streamingBody: fail(UpstreamError.connectionClosed)
        case .idle, .closed: break
        }
        phase = .closed
        cancelAllTimers()
        let onClose = self.onClose
        self.onClose = nil
        self.onReusable = nil
        onClose?()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case is HTTPParserError: fail(UpstreamError.protocolError)
        case is NIOSSLError: fail(UpstreamError.connectFailed)
        default: fail(receivedAnswerBytes || phase != .awaitingHead ? UpstreamError.connectionClosed : UpstreamError.closedBeforeAnswer)
        }
    }

    // MARK: Internals

    private func resumeReading(exchange: Int) {
        guard exchange == self.exchange, phase == .streamingBody else { return }
        readsPaused = false
        if heldRead, let context {
            heldRead = false
            context.read()
        }
    }

    /// The body's reader stopped before the end (the agent went away): the rest of the answer
    /// would arrive on this connection, so it cannot be reused.
    private func readerGone(exchange: Int) {
        guard exchange == self.exchange, phase == .streamingBody else { return }
        close()
    }

    /// Makes sure the exchange timer fires by `time`: one due sooner is kept (when it fires, it
    /// checks the exchange in progress and moves on).
    private func armExchangeTimer(by time: NIODeadline) {
        if let pending = exchangeTimer {
            if pending.due <= time { return }
            pending.task.cancel()
        }
        guard let loop = context?.eventLoop else { return }
        exchangeTimer = (loop.assumeIsolated().scheduleTask(deadline: time) { [self] in exchangeTimerFired() }, time)
    }

    private func exchangeTimerFired() {
        exchangeTimer = nil
        // Between exchanges it stops; the next exchange arms it again.
        guard phase == .awaitingHead || phase == .collectingBody || phase == .streamingBody else { return }
        let now = NIODeadline.now()
        if now >= deadline { return fail(UpstreamError.deadlineExceeded) }
        // While the reader is behind, the provider is not the one being slow.
        let silenceEnds = readsPaused ? now + readTimeout : lastRead + readTimeout
        if silenceEnds <= now { return fail(UpstreamError.readTimeout) }
        armExchangeTimer(by: min(silenceEnds, deadline))
    }

    private func finishExchange(reusable: Bool) {
        source = nil
        readsPaused = false
        phase = .idle
        if heldRead, let context {
            heldRead = false
            context.read()  // an idle connection keeps reading, to notice when the provider closes it
        }
        guard reusable, context != nil else {
            close()
            return
        }
        idleSince = .now()
        if idleTimer == nil { scheduleIdleTimer(at: idleSince + idleTimeout) }
        onReusable?()
    }

    /// Closes the connection once it has been idle for `idleTimeout`; while it is in use, or was
    /// used since, the timer moves on instead.
    private func scheduleIdleTimer(at time: NIODeadline) {
        idleTimer = context?.eventLoop.assumeIsolated().scheduleTask(deadline: time) { [self] in
            idleTimer = nil
            switch phase {
            case .idle where NIODeadline.now() >= idleSince + idleTimeout: close()
            case .idle: scheduleIdleTimer(at: idleSince + idleTimeout)
            case .awaitingHead, .collectingBody, .streamingBody: scheduleIdleTimer(at: .now() + idleTimeout)
            case .closed: break
            }
        }
    }

    /// Ends the exchange with `error` and closes the connection (what is left of the answer is unusable).
    private func fail(_ error: UpstreamError) {
        switch phase {
        case .awaitingHead, .collectingBody:
            let answer = waiting
            waiting = nil
            collected = nil
            answer?.resume(throwing: error)
        case .streamingBody:
            source?.finish(error)
            source = nil
        case .idle, .closed:
            break
        }
        close()
    }

    /// The connection is not used again: no timer fires for it, and the channel closes.
    private func close() {
        phase = .closed
        cancelAllTimers()
        context?.close(promise: nil)
    }

    private func cancelAllTimers() {
        exchangeTimer?.task.cancel()
        exchangeTimer = nil
        idleTimer?.cancel()
        idleTimer = nil
    }
}
