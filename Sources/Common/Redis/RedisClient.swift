import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// A pool of hiredis connections behind an async API.
///
/// hiredis is blocking, so every call runs on a thread pool owned by this client (one thread per
/// connection), never on an event loop. A connection that failed is dropped, not reused; the next
/// call opens a fresh one, so the client recovers by itself when Redis comes back.
public final class RedisClient: Sendable, Service {
    public let configuration: RedisConfiguration
    private let threads: NIOThreadPool
    private let logger: Logger
    private let state: Mutex<PoolState>

    private struct PoolState {
        var idle: [RedisConnection] = []
        var open = 0
        var waiters: [CheckedContinuation<RedisConnection?, any Error>] = []
        var isShutDown = false
    }

    public init(configuration: RedisConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.threads = NIOThreadPool(numberOfThreads: configuration.poolSize)
        self.threads.start()
        self.state = Mutex(PoolState())
    }

    /// Sends one command, e.g. `send("INCRBY", key, "1")`.
    @discardableResult
    public func send(_ arguments: String...) async throws -> RedisValue {
        try await send(arguments.map { Array($0.utf8) })
    }

    /// Sends one command with binary-safe arguments.
    public func send(_ arguments: [[UInt8]]) async throws -> RedisValue {
        let connection = try await acquire()
        do {
            let reply = try await threads.runIfActive { try connection.command(arguments) }
            release(connection)
            return reply
        } catch {
            release(connection)
            throw error
        }
    }

    /// True when Redis answers PING within the command timeout.
    public func ping() async -> Bool {
        (try? await send("PING"))?.string == "PONG"
    }

    // MARK: Service

    public func run() async throws {
        try? await gracefulShutdown()
        try await shutdown()
    }

    /// Closes every connection and stops the threads. Calls after this fail with `shutDown`.
    public func shutdown() async throws {
        let (idle, waiters) = state.withLock { state -> ([RedisConnection], [CheckedContinuation<RedisConnection?, any Error>]) in
            state.isShutDown = true
            defer {
                state.idle = []
                state.waiters = []
            }
            return (state.idle, state.waiters)
        }
        waiters.forEach { $0.resume(throwing: RedisError.shutDown) }
        _ = idle  // dropping the last reference frees each hiredis context
        try await threads.shutdownGracefully()
    }

    // MARK: Pool

    private func acquire() async throws -> RedisConnection {
        enum Next { case use(RedisConnection), create, wait }
        let next: Next = try state.withLock { state in
            if state.isShutDown { throw RedisError.shutDown }
            if let connection = state.idle.popLast() { return .use(connection) }
            if state.open < configuration.poolSize {
                state.open += 1
                return .create
            }
            return .wait
        }
        switch next {
        case .use(let connection):
            return connection
        case .create:
            return try await connect()
        case .wait:
            // A released connection, or nil: a slot was freed and this waiter may open one.
            let handed = try await withCheckedThrowingContinuation { continuation in
                let shutDown = state.withLock { state in
                    if state.isShutDown { return true }
                    state.waiters.append(continuation)
                    return false
                }
                if shutDown { continuation.resume(throwing: RedisError.shutDown) }
            }
            if let handed { return handed }
            return try await connect()
        }
    }

    /// Opens a connection for a slot already counted in `open`; gives the slot back on failure.
    private func connect() async throws -> RedisConnection {
        do {
            let configuration = self.configuration
            return try await threads.runIfActive { try RedisConnection(configuration: configuration) }
        } catch {
            freeSlot()
            throw error
        }
    }

    private func release(_ connection: RedisConnection) {
        guard !connection.isBroken else {
            freeSlot()
            return
        }
        let waiter = state.withLock { state -> CheckedContinuation<RedisConnection?, any Error>? in
            if state.isShutDown {
                state.open -= 1
                return nil
            }
            if !state.waiters.isEmpty { return state.waiters.removeFirst() }
            state.idle.append(connection)
            return nil
        }
        waiter?.resume(returning: connection)
    }

    private func freeSlot() {
        let waiter = state.withLock { state -> CheckedContinuation<RedisConnection?, any Error>? in
            if !state.waiters.isEmpty { return state.waiters.removeFirst() }  // the slot passes to the waiter
            state.open -= 1
            return nil
        }
        waiter?.resume(returning: nil)
    }
}
