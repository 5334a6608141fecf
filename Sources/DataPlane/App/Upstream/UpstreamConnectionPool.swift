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
    /// `head`: the request's head as bytes (`RequestEncoding`). The handler resumes the caller
    /// directly: a promise and its future cost ~2.5 K instructions a call, most of it looking up
    /// their generic types' metadata (bench/RESULTS.md, session 35).
    func send(_ head: ByteBuffer, method: HTTPMethod, body: ByteBuffer?, readTimeout: TimeAmount, deadline: NIODeadline) async throws -> UpstreamResponse {
        let loop = channel.eventLoop, handler = self.handler
        return try await withUnsafeThrowingContinuation { answer in
            if loop.inEventLoop {
                handler.value.start(head, method: method, body: body, readTimeout: readTimeout, deadline: deadline, answer: answer)
            } else {
                loop.execute { handler.value.start(head, method: method, body: body, readTimeout: readTimeout, deadline: deadline, answer: answer) }
            }
        }
    }
}

/// Idle keep-alive connections per provider endpoint. A caller on an event loop only gets a
/// connection of that loop (else it opens one there): the exchange then needs no thread switch.
/// Taking an idle one from another loop instead sent each call across threads twice — the request
/// out and the answer back, each waking the other thread (seen in strace) — and the calling task
/// moved to the other loop, so a sequential client's next call did it again.
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

    /// An idle connection to `endpoint` on `eventLoop` (on any loop when the caller is on none);
    /// nil when there is none.
    func lease(_ endpoint: UpstreamEndpoint, on eventLoop: (any EventLoop)?) -> UpstreamConnection? {
        state.withLock { state in
            guard var connections = state.idle[endpoint], !connections.isEmpty else { return nil }
            let found = eventLoop.map { loop in connections.lastIndex { $0.channel.eventLoop === loop } } ?? connections.count - 1
            guard let index = found else { return nil }
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
