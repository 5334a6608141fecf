import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A pooled connection: its channel and its handler, which only its event loop may touch.
final class UpstreamConnection: Sendable {
    let endpoint: UpstreamEndpoint
    let channel: any Channel
    let handler: NIOLoopBound<UpstreamConnectionHandler>

    init(endpoint: UpstreamEndpoint, channel: any Channel, handler: NIOLoopBound<UpstreamConnectionHandler>) {
        self.endpoint = endpoint
        self.channel = channel
        self.handler = handler
    }

    /// Sends one request and waits for the answer's head.
    func send(_ head: HTTPRequestHead, body: ByteBuffer?, readTimeout: TimeAmount, deadline: NIODeadline) async throws -> UpstreamResponse {
        let loop = channel.eventLoop
        let promise = loop.makePromise(of: UpstreamResponse.self)
        if loop.inEventLoop {
            handler.value.start(head, body: body, readTimeout: readTimeout, deadline: deadline, promise: promise)
        } else {
            let handler = self.handler
            loop.execute { handler.value.start(head, body: body, readTimeout: readTimeout, deadline: deadline, promise: promise) }
        }
        return try await promise.futureResult.get()
    }
}

/// Idle keep-alive connections per provider endpoint. A caller on an event loop gets a connection
/// of that loop when there is one, so the exchange needs no thread switch.
final class UpstreamConnectionPool: Sendable {
    private struct State {
        var idle: [UpstreamEndpoint: [UpstreamConnection]] = [:]
        var idleCount = 0
        var shutDown = false
    }

    /// Idle connections kept in all (busy ones are not limited: each call has its own).
    let maxIdle: Int
    private let state = Mutex(State())

    init(maxIdle: Int = 1024) {
        self.maxIdle = maxIdle
    }

    var isShutDown: Bool { state.withLock { $0.shutDown } }

    /// An idle connection to `endpoint`, preferring one on `eventLoop`; nil when there is none.
    func lease(_ endpoint: UpstreamEndpoint, preferring eventLoop: (any EventLoop)?) -> UpstreamConnection? {
        state.withLock { state in
            guard var connections = state.idle[endpoint], !connections.isEmpty else { return nil }
            let index = eventLoop.flatMap { loop in connections.lastIndex { $0.channel.eventLoop === loop } } ?? connections.count - 1
            let connection = connections.remove(at: index)
            state.idle[endpoint] = connections.isEmpty ? nil : connections
            state.idleCount -= 1
            return connection
        }
    }

    /// Takes back a connection whose exchange ended cleanly (closed instead when full or shut down).
    func release(_ connection: UpstreamConnection) {
        let kept = state.withLock { state in
            guard !state.shutDown, state.idleCount < maxIdle else { return false }
            state.idle[connection.endpoint, default: []].append(connection)
            state.idleCount += 1
            return true
        }
        if !kept { connection.channel.close(promise: nil) }
    }

    /// Forgets a connection that closed (while idle: the provider or the idle timeout closed it).
    func remove(_ connection: UpstreamConnection) {
        state.withLock { state in
            guard var connections = state.idle[connection.endpoint], let index = connections.firstIndex(where: { $0 === connection }) else { return }
            connections.remove(at: index)
            state.idle[connection.endpoint] = connections.isEmpty ? nil : connections
            state.idleCount -= 1
        }
    }

    /// Closes every idle connection and keeps none from now on.
    func shutDown() {
        let idle = state.withLock { state in
            state.shutDown = true
            defer { state.idle = [:]; state.idleCount = 0 }
            return state.idle.values.flatMap { $0 }
        }
        for connection in idle { connection.channel.close(promise: nil) }
    }
}
