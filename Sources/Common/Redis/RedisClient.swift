import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// A few pipelined Redis connections behind an async API.
///
/// Commands go out on event-loop connections (RESP out, hiredis's reader for the replies), spread
/// round-robin over `poolSize` connections; no thread blocks on Redis. Slot `i` connects on event
/// loop `i mod loops`, and a caller running on an event loop uses that loop's slots: the reply then
/// resumes it where it was, instead of moving the call (and the rest of its work: the provider
/// request, the agent's answer) to another thread. A connection that failed is
/// dropped; the next call on its slot opens a fresh one, so the client recovers by itself when
/// Redis comes back (and fails fast while it is away: the connection is refused).
public final class RedisClient: Sendable, Service {
    public let configuration: RedisConfiguration
    private let group: any EventLoopGroup
    private let loops: [any EventLoop]
    private let logger: Logger
    private let slots: Mutex<(connections: [Task<RedisConnection, any Error>?], next: Int, isShutDown: Bool)>

    public init(configuration: RedisConfiguration, logger: Logger, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.configuration = configuration
        self.logger = logger
        self.group = group
        self.loops = Array(group.makeIterator())
        self.slots = Mutex((Array(repeating: nil, count: max(configuration.poolSize, 1)), 0, false))
    }

    /// Sends one command, e.g. `send("INCRBY", key, "1")`.
    @discardableResult
    public func send(_ arguments: String...) async throws -> RedisValue {
        try await send(RedisCommand(arguments))
    }

    /// Sends one command with binary-safe arguments.
    public func send(_ arguments: [[UInt8]]) async throws -> RedisValue {
        var command = RedisCommand(capacity: arguments.reduce(0) { $0 + $1.count + 16 })
        for argument in arguments { command.append(argument) }
        return try await send(command)
    }

    /// Sends one command built with `RedisCommand`.
    public func send(_ command: consuming RedisCommand) async throws -> RedisValue {
        let (slot, connecting, connection) = try await liveConnection()
        do {
            return try await connection.send(command)
        } catch {
            // An error reply leaves the connection open; a transport failure or timeout closes it.
            if !connection.isActive { drop(slot, connecting) }
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

    /// Closes every connection. Calls after this fail with `shutDown`.
    public func shutdown() async throws {
        let open = slots.withLock { slots -> [Task<RedisConnection, any Error>] in
            slots.isShutDown = true
            defer { slots.connections = slots.connections.map { _ in nil } }
            return slots.connections.compactMap { $0 }
        }
        for connecting in open { (try? await connecting.value)?.close() }
    }

    // MARK: Slots

    /// The next slot's open connection. One that Redis closed while it sat idle (a restart, Redis's
    /// idle timeout) is replaced in its slot before use, not found dead by a failing command.
    private func liveConnection() async throws -> (Int, Task<RedisConnection, any Error>, RedisConnection) {
        let (slot, connecting) = try connection()
        let connection = try await opened(slot, connecting)
        guard !connection.isActive else { return (slot, connecting, connection) }
        logger.debug("Redis closed an idle connection; reconnecting", metadata: ["slot": "\(slot)"])
        drop(slot, connecting)
        let (_, reconnecting) = try self.connection(slot: slot)
        return (slot, reconnecting, try await opened(slot, reconnecting))
    }

    /// The connection a slot's task opened; a slot whose connection could not be opened is emptied.
    private func opened(_ slot: Int, _ connecting: Task<RedisConnection, any Error>) async throws -> RedisConnection {
        do {
            return try await connecting.value
        } catch {
            drop(slot, connecting)
            throw error
        }
    }

    /// The connection of `slot` (default: the next slot of the caller's event loop, round-robin),
    /// opening it when the slot is empty.
    private func connection(slot requested: Int? = nil) throws -> (Int, Task<RedisConnection, any Error>) {
        let configuration = self.configuration, loops = self.loops
        let current = MultiThreadedEventLoopGroup.currentEventLoop.flatMap { current in loops.firstIndex { $0 === current } }
        return try slots.withLock { slots in
            if slots.isShutDown { throw RedisError.shutDown }
            let count = slots.connections.count
            let slot: Int
            if let requested {
                slot = requested
            } else if let current, !loops.isEmpty, count >= loops.count {
                slot = current + loops.count * (slots.next % (count / loops.count))
                slots.next = (slots.next + 1) % count
            } else {
                slot = slots.next
                slots.next = (slots.next + 1) % count
            }
            if let existing = slots.connections[slot] { return (slot, existing) }
            let loop: any EventLoopGroup = loops.isEmpty ? group : loops[slot % loops.count]
            let connecting = Task { try await RedisConnection.connect(configuration: configuration, group: loop) }
            slots.connections[slot] = connecting
            return (slot, connecting)
        }
    }

    /// Empties a slot whose connection failed (unless another call already replaced it).
    private func drop(_ slot: Int, _ connecting: Task<RedisConnection, any Error>) {
        slots.withLock { slots in
            if let current = slots.connections[slot], current == connecting { slots.connections[slot] = nil }
        }
    }
}
