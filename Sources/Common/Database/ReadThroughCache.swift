import Metrics
import Synchronization

/// What a cache answers for a value it never had while the database does not answer.
public struct DatabaseUnreachable: Error, Sendable {}

/// Values read from the database and kept in memory: fresh for `timeToLive`, reloaded after it — and
/// past it still served while the database does not answer, so an outage does not stop calls whose
/// state is already known (a change made before the outage arrived by notification and dropped the
/// entry; none can be made during it). A value asked for in the second half of its time to live is
/// reloaded in the background while it is served, so a key in steady use (an agent calling every
/// few seconds) is not waited on when it expires: only a key unused for half its time to live is.
///
/// Bounded without ever walking the entries on a call: they are kept in two generations, the entries
/// asked for or stored since the last rotation and those of the generation before; an entry asked
/// for moves to the current one. Each `retention` — or sooner, when the current generation reaches
/// (about) half the capacity — the previous generation is dropped and the current one takes its place, so an entry not asked for during one to two
/// retentions goes. (A sweep over every entry, emptying a full cache and doubling resizes held calls
/// for up to ~20 ms once the runs cache had grown to 100 k entries: bench/RESULTS.md, session 13.)
public final class ReadThroughCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Entry {
        let value: Value
        let loaded: ContinuousClock.Instant
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
        /// Asked for or stored since `rotatedAt`. A new generation has room for as many entries as
        /// the one before it held, so under a steady load it is not resized (a doubling moves every
        /// entry at once, under the lock); the first grows as it fills. Not sized for a full
        /// generation: a key's slot is wherever its hash falls, so even a few thousand entries
        /// touch nearly every page of a table sized for 50 k — the runs cache was ~30 MB resident
        /// per generation for 8 k runs (bench/RESULTS.md, session 21).
        var current: [Key: Entry] = [:]
        /// The generation before: dropped at the next rotation, except what is asked for meanwhile.
        var previous: [Key: Entry] = [:]
        var rotatedAt: ContinuousClock.Instant
        let generationSize: Int
        /// Counts removals and expiries: a load that began before one does not put its value back
        /// (it may be what the invalidation was about, e.g. a token read just before its revocation
        /// committed, which would otherwise be served for a whole time to live), and is not shared
        /// with callers that come after it.
        var invalidations: UInt64 = 0
        var flights: [Key: Flight] = [:]

        /// A generation holds at most half the capacity — rounded down to what a hash table holds
        /// before it doubles (three quarters of a power of two): a generation of exactly 50 k
        /// doubled its table to 131 k slots at its 49,152nd entry, for its last 848, moving every
        /// entry under the lock (~30 ms for the runs cache) and leaving every later generation of
        /// that size twice as large in memory.
        init(capacity: Int, now: ContinuousClock.Instant) {
            rotatedAt = now
            let half = max(capacity / 2, 1)
            // Asked of a table of one-byte keys: its slot count follows the same rule, and it does
            // not allocate a generation's worth of entries at start-up only to free them.
            let table = [UInt8: Void](minimumCapacity: half).capacity
            generationSize = table > half ? max(table / 2, 1) : table
        }

        var count: Int { current.count + previous.count }

        /// The entries both generations have room for without growing: what their memory follows.
        var slots: Int { current.capacity + previous.capacity }

        subscript(key: Key) -> Entry? { current[key] ?? previous[key] }

        /// The entry of `key`, moved to the current generation: it is in use, outage or not.
        mutating func use(_ key: Key) -> Entry? {
            if let entry = current[key] { return entry }
            guard let entry = previous.removeValue(forKey: key) else { return nil }
            current[key] = entry
            return entry
        }

        /// Puts `entry`. Returns the generation a rotation dropped, for the caller to release after the lock.
        mutating func store(_ entry: Entry, for key: Key, now: ContinuousClock.Instant, retention: Duration) -> [Key: Entry] {
            previous.removeValue(forKey: key)
            var dropped: [Key: Entry] = [:]
            if current[key] == nil, now - rotatedAt >= retention || current.count >= generationSize {
                dropped = previous
                previous = current
                current = Dictionary(minimumCapacity: min(previous.count, generationSize))
                rotatedAt = now
            }
            current[key] = entry
            return dropped
        }

        /// The load of `key` in flight that a caller may share, or a new one it is to lead.
        mutating func flight(for key: Key) -> (flight: Flight, leads: Bool) {
            if let flight = flights[key], flight.generation == invalidations { return (flight, false) }
            let flight = Flight(generation: invalidations)
            flights[key] = flight
            return (flight, true)
        }

        mutating func remove(_ key: Key) {
            current.removeValue(forKey: key)
            previous.removeValue(forKey: key)
        }

        /// Removes what `shouldRemove` picks, in place (each generation keeps its size).
        mutating func removeAll(where shouldRemove: (Key, Entry) -> Bool) {
            func prune(_ generation: inout [Key: Entry]) {
                for key in generation.compactMap({ shouldRemove($0.key, $0.value) ? $0.key : nil }) { generation.removeValue(forKey: key) }
            }
            prune(&current)
            prune(&previous)
        }

        /// Changes every entry in place, in both generations.
        mutating func mapEntries(_ change: (Entry) -> Entry) {
            current = current.mapValues(change)
            previous = previous.mapValues(change)
        }
    }

    private let entries: Mutex<State>
    private let timeToLive: Duration
    /// From this age on, a value still fresh is reloaded in the background when asked for.
    private let refreshAfter: Duration
    private let retention: Duration
    private let loadDeadline: Duration
    /// Whether the database answers now (its health monitor): while it does not, nothing is loaded.
    private let reachable: @Sendable () -> Bool
    private let staleServes: Counter
    private let waits: Counter
    private let refreshes: Counter
    /// How a loaded value joins the one cached for its key (nil: it replaces it).
    private let merge: (@Sendable (_ cached: Value, _ loaded: Value) -> Value)?
    /// What time it is: the continuous clock, or a test's own so ages do not follow the scheduler.
    private let clock: @Sendable () -> ContinuousClock.Instant

    /// `name` labels the `rungate_cache_stale_serves_total`, `rungate_cache_waits_total` (callers that
    /// waited for a load: nothing cached, or out of date) and `rungate_cache_refreshes_total`
    /// (reloads begun ahead of expiry, nobody waiting) counters. `merge`, for values this process
    /// changes in place (`update`) ahead of the database: what to keep when a reload lands on a
    /// cached value (it runs under the cache's lock, so no `update` falls between read and store).
    public init(name: String, timeToLive: Duration, retention: Duration = .seconds(3600), capacity: Int = 100_000,
                loadDeadline: Duration = .seconds(5), reachable: @escaping @Sendable () -> Bool = { true },
                merge: (@Sendable (_ cached: Value, _ loaded: Value) -> Value)? = nil,
                clock: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.reachable = reachable
        self.clock = clock
        self.merge = merge
        self.timeToLive = timeToLive
        self.refreshAfter = timeToLive / 2
        self.retention = max(retention, timeToLive)
        self.entries = Mutex(State(capacity: capacity, now: clock()))
        self.loadDeadline = loadDeadline
        self.staleServes = Counter(label: "rungate_cache_stale_serves_total", dimensions: [("cache", name)])
        self.waits = Counter(label: "rungate_cache_waits_total", dimensions: [("cache", name)])
        self.refreshes = Counter(label: "rungate_cache_refreshes_total", dimensions: [("cache", name)])
    }

    /// The value of `key`: fresh from memory, else loaded (nil: there is none, nothing cached) — once
    /// for all the callers asking meanwhile; when the load fails, or the database is away, the last
    /// known value if any. A fresh value past half its time to live is reloaded in the background.
    public func value(for key: Key, load: @escaping @Sendable () async throws -> Value?) async throws -> Value? {
        let now = clock()
        let entry = entries.withLock { $0.use(key) }
        if let entry, now - entry.loaded < timeToLive {
            if now - entry.loaded >= refreshAfter { refreshAhead(key, load: load) }
            return entry.value
        }
        if !reachable() {
            guard let entry else { throw DatabaseUnreachable() }
            staleServes.increment()
            return entry.value
        }
        waits.increment()
        let (flight, leads) = entries.withLock { $0.flight(for: key) }
        if leads { await land(flight, key: key, load: load) }
        do {
            return try await flight.result()
        } catch {
            guard let entry else { throw error }
            staleServes.increment()
            return entry.value
        }
    }

    /// Reloads `key` off the caller's path, unless a load of it is already in flight or the database
    /// is away. A failed reload changes nothing: the value is served until it expires, and the next
    /// caller in the window tries again.
    private func refreshAhead(_ key: Key, load: @escaping @Sendable () async throws -> Value?) {
        guard reachable() else { return }
        let (flight, leads) = entries.withLock { $0.flight(for: key) }
        guard leads else { return }
        refreshes.increment()
        Task { await self.land(flight, key: key, load: load) }
    }

    /// Runs the load `flight` stands for, keeps its value unless an invalidation came meanwhile, and
    /// answers everyone waiting on it.
    private func land(_ flight: Flight, key: Key, load: @escaping @Sendable () async throws -> Value?) async {
        let result: Result<Value?, any Error>
        do {
            // The pool waits while it cannot connect; a caller is answered within the deadline.
            result = .success(try await withDeadline(loadDeadline, load))
        } catch {
            result = .failure(error)
        }
        let retention = self.retention, merge = self.merge, now = clock()
        // What a rotation dropped is released here, after the lock.
        _ = entries.withLock { entries -> [Key: Entry] in
            if entries.flights[key] === flight { entries.flights[key] = nil }
            guard case .success(let value) = result, entries.invalidations == flight.generation else { return [:] }
            guard let value else {
                entries.remove(key)  // there is none: nothing cached
                return [:]
            }
            let stored = if let merge, let cached = entries[key] { merge(cached.value, value) } else { value }
            return entries.store(Entry(value: stored, loaded: now), for: key, now: now, retention: retention)
        }
        flight.finish(result)
    }

    /// How many entries are held.
    public var count: Int { entries.withLock { $0.count } }

    /// How many entries the cache has room for without allocating: its memory follows this, not
    /// its capacity.
    public var slots: Int { entries.withLock { $0.slots } }

    /// Whether a load of `key` is in flight (a caller waits on it, or a reload ahead of expiry runs).
    public func isLoading(_ key: Key) -> Bool {
        entries.withLock { $0.flights[key] != nil }
    }

    /// The value of `key` whatever its age.
    public func cached(_ key: Key) -> Value? {
        entries.withLock { $0[key]?.value }
    }

    public func put(_ value: Value, for key: Key) {
        let now = clock(), retention = self.retention
        _ = entries.withLock { $0.store(Entry(value: value, loaded: now), for: key, now: now, retention: retention) }
    }

    /// Changes the value of `key` in place, if it is cached (its age is kept).
    public func update(_ key: Key, _ change: (inout Value) -> Void) {
        entries.withLock { entries in
            func changed(_ entry: Entry) -> Entry {
                var value = entry.value
                change(&value)
                return Entry(value: value, loaded: entry.loaded)
            }
            if let entry = entries.current[key] {
                entries.current[key] = changed(entry)
            } else if let entry = entries.previous[key] {
                entries.previous[key] = changed(entry)
            }
        }
    }

    public func remove(_ key: Key) {
        entries.withLock { entries in
            entries.remove(key)
            entries.invalidations &+= 1
        }
    }

    public func removeAll(where shouldRemove: (Key, Value) -> Bool) {
        entries.withLock { entries in
            entries.removeAll { shouldRemove($0, $1.value) }
            entries.invalidations &+= 1
        }
    }

    /// Marks every entry out of date: each is reloaded on its next use, or served as it is while the
    /// database does not answer. What a missed notification calls for (anything may have changed).
    public func expireAll() {
        let past = clock() - timeToLive
        entries.withLock { entries in
            entries.invalidations &+= 1
            entries.mapEntries { Entry(value: $0.value, loaded: min($0.loaded, past)) }
        }
    }
}
