import Metrics
import Synchronization

/// What a cache answers for a value it never had while the database does not answer.
public struct DatabaseUnreachable: Error, Sendable {}

/// Values read from the database and kept in memory: fresh for `timeToLive`, reloaded after it — and
/// past it still served while the database does not answer, so an outage does not stop calls whose
/// state is already known (a change made before the outage arrived by notification and dropped the
/// entry; none can be made during it). Bounded twice: an entry not asked for during `retention` is
/// swept away, and a full cache is emptied and refills.
public final class ReadThroughCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Entry {
        let value: Value
        let loaded: ContinuousClock.Instant
        /// The last time it was asked for: what is still in use is never swept, outage or not.
        var used: ContinuousClock.Instant
    }

    /// One load of a key, shared by every caller that needs it meanwhile: when an entry expires
    /// under load, the database sees one query instead of one per waiting call (each possibly on a
    /// new pooled connection).
    private final class Flight: Sendable {
        /// The cache's invalidation count when the load began: only callers that come before the
        /// next invalidation may share it.
        let generation: UInt64
        private let state = Mutex<(result: Result<Value?, any Error>?, waiters: [CheckedContinuation<Value?, any Error>])>((nil, []))

        init(generation: UInt64) {
            self.generation = generation
        }

        func result() async throws -> Value? {
            try await withCheckedThrowingContinuation { continuation in
                let done = state.withLock { state in
                    if state.result == nil { state.waiters.append(continuation) }
                    return state.result
                }
                if let done { continuation.resume(with: done) }
            }
        }

        func finish(_ result: Result<Value?, any Error>) {
            let waiters = state.withLock { state in
                state.result = result
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume(with: result) }
        }
    }

    private struct State {
        var values: [Key: Entry] = [:]
        var putsSinceSweep = 0
        /// Counts removals and expiries: a load that began before one does not put its value back
        /// (it may be what the invalidation was about, e.g. a token read just before its revocation
        /// committed, which would otherwise be served for a whole time to live), and is not shared
        /// with callers that come after it.
        var invalidations: UInt64 = 0
        var flights: [Key: Flight] = [:]
    }

    private let entries = Mutex<State>(State())
    private let timeToLive: Duration
    private let retention: Duration
    private let capacity: Int
    private let loadDeadline: Duration
    /// Whether the database answers now (its health monitor): while it does not, nothing is loaded.
    private let reachable: @Sendable () -> Bool
    private let staleServes: Counter

    /// `name` labels the `rungate_cache_stale_serves_total` counter.
    public init(name: String, timeToLive: Duration, retention: Duration = .seconds(3600), capacity: Int = 100_000,
                loadDeadline: Duration = .seconds(5), reachable: @escaping @Sendable () -> Bool = { true }) {
        self.reachable = reachable
        self.timeToLive = timeToLive
        self.retention = max(retention, timeToLive)
        self.capacity = capacity
        self.loadDeadline = loadDeadline
        self.staleServes = Counter(label: "rungate_cache_stale_serves_total", dimensions: [("cache", name)])
    }

    /// The value of `key`: fresh from memory, else loaded (nil: there is none, nothing cached) — once
    /// for all the callers asking meanwhile; when the load fails, or the database is away, the last
    /// known value if any.
    public func value(for key: Key, load: @escaping @Sendable () async throws -> Value?) async throws -> Value? {
        let now = ContinuousClock.now
        let entry = entries.withLock { entries in
            entries.values[key]?.used = now
            return entries.values[key]
        }
        if let entry, now - entry.loaded < timeToLive { return entry.value }
        if !reachable() {
            guard let entry else { throw DatabaseUnreachable() }
            staleServes.increment()
            return entry.value
        }
        let (flight, leads) = entries.withLock { entries in
            if let flight = entries.flights[key], flight.generation == entries.invalidations { return (flight, false) }
            let flight = Flight(generation: entries.invalidations)
            entries.flights[key] = flight
            return (flight, true)
        }
        if leads {
            let result: Result<Value?, any Error>
            do {
                // The pool waits while it cannot connect; a caller is answered within the deadline.
                result = .success(try await withDeadline(loadDeadline, load))
            } catch {
                result = .failure(error)
            }
            entries.withLock { entries in
                if entries.flights[key] === flight { entries.flights[key] = nil }
                if case .success(let value) = result, entries.invalidations == flight.generation {
                    Self.store(value, for: key, in: &entries, now: .now, capacity: capacity, retention: retention)
                }
            }
            flight.finish(result)
        }
        do {
            return try await flight.result()
        } catch {
            guard let entry else { throw error }
            staleServes.increment()
            return entry.value
        }
    }

    /// How many entries are held.
    public var count: Int { entries.withLock { $0.values.count } }

    /// The value of `key` whatever its age.
    public func cached(_ key: Key) -> Value? {
        entries.withLock { $0.values[key]?.value }
    }

    public func put(_ value: Value, for key: Key) {
        let now = ContinuousClock.now, capacity = self.capacity, retention = self.retention
        entries.withLock { Self.store(value, for: key, in: &$0, now: now, capacity: capacity, retention: retention) }
    }

    /// Puts `value` (nil: removes the entry).
    private static func store(_ value: Value?, for key: Key, in entries: inout State, now: ContinuousClock.Instant,
                              capacity: Int, retention: Duration) {
        guard let value else {
            entries.values.removeValue(forKey: key)
            return
        }
        // Now and then what nobody asked for during the retention goes: most entries of a busy
        // cache (runs) are never asked for again. A pass looks at each entry, so passes are
        // spaced by a quarter of the size: at most four looks per put, however large it grows
        // (a fixed spacing made a full runs cache cost ~100 looks per call).
        entries.putsSinceSweep += 1
        if entries.putsSinceSweep >= max(1024, entries.values.count / 4) {
            entries.putsSinceSweep = 0
            // Removed in place: the table keeps its capacity, so memory holds steady instead of
            // a copy of the table being made (and released) on every pass.
            let unused = entries.values.compactMap { now - $0.value.used >= retention ? $0.key : nil }
            for key in unused { entries.values.removeValue(forKey: key) }
        }
        if entries.values.count >= capacity, entries.values[key] == nil { entries.values.removeAll(keepingCapacity: true) }
        entries.values[key] = Entry(value: value, loaded: now, used: now)
    }

    /// Changes the value of `key` in place, if it is cached (its age is kept).
    public func update(_ key: Key, _ change: (inout Value) -> Void) {
        entries.withLock { entries in
            guard let entry = entries.values[key] else { return }
            var value = entry.value
            change(&value)
            entries.values[key] = Entry(value: value, loaded: entry.loaded, used: entry.used)
        }
    }

    public func remove(_ key: Key) {
        entries.withLock { entries in
            entries.values.removeValue(forKey: key)
            entries.invalidations &+= 1
        }
    }

    public func removeAll(where shouldRemove: (Key, Value) -> Bool) {
        entries.withLock { entries in
            entries.values = entries.values.filter { !shouldRemove($0.key, $0.value.value) }
            entries.invalidations &+= 1
        }
    }

    /// Marks every entry out of date: each is reloaded on its next use, or served as it is while the
    /// database does not answer. What a missed notification calls for (anything may have changed).
    public func expireAll() {
        let past = ContinuousClock.now - timeToLive
        entries.withLock { entries in
            entries.invalidations &+= 1
            for (key, entry) in entries.values {
                entries.values[key] = Entry(value: entry.value, loaded: min(entry.loaded, past), used: entry.used)
            }
        }
    }
}
