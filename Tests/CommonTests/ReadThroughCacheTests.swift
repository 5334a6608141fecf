import Common
import Synchronization
import TestSupport
import Testing

/// The data plane's read-through cache: served stale (and only then) while the database is away,
/// and bounded by generations: what nobody asked for during two retentions, or the oldest half of
/// a full cache, goes — without walking the entries on a call.
@Suite struct ReadThroughCacheTests {
    struct LoadFailed: Error {}

    /// Stands for the database's health monitor.
    final class Database: Sendable {
        let answers = Atomic<Bool>(true)
        func set(_ value: Bool) { answers.store(value, ordering: .relaxed) }
        var reachable: @Sendable () -> Bool { { self.answers.load(ordering: .relaxed) } }
    }

    final class Flag: Sendable {
        private let value = Atomic<Bool>(false)
        func set() { value.store(true, ordering: .relaxed) }
        var isSet: Bool { value.load(ordering: .relaxed) }
    }

    final class Count: Sendable {
        private let value = Atomic<Int>(0)
        func increment() { value.add(1, ordering: .relaxed) }
        var current: Int { value.load(ordering: .relaxed) }
    }

    @Test func aStaleValueIsServedOnlyWhileTheDatabaseIsAway() async throws {
        let database = Database()
        let cache = ReadThroughCache<String, Int>(name: "test", timeToLive: .zero, reachable: database.reachable)
        cache.put(1, for: "a")
        // Out of date and the database answers: reloaded.
        #expect(try await cache.value(for: "a") { 2 } == 2)
        // Out of date and the database is away: the last known value, without trying.
        database.set(false)
        #expect(try await cache.value(for: "a") { Issue.record("no load while away"); return 3 } == 2)
        await #expect(throws: DatabaseUnreachable.self) { _ = try await cache.value(for: "b") { 1 } }
        // A failed load keeps the last known value; one never known fails.
        database.set(true)
        #expect(try await cache.value(for: "a") { throw LoadFailed() } == 2)
        await #expect(throws: LoadFailed.self) { _ = try await cache.value(for: "b") { throw LoadFailed() } }
        // Nothing there: nothing cached.
        #expect(try await cache.value(for: "c") { nil } == nil)
        #expect(cache.cached("c") == nil)
    }

    /// A value loaded across an invalidation is answered to its caller but not kept: a token read
    /// just before its revocation committed must not be served for a whole time to live.
    @Test func aLoadThatStraddlesAnInvalidationIsNotKept() async throws {
        let cache = ReadThroughCache<String, Int>(name: "test", timeToLive: .seconds(60))
        // The revocation's notification arrives while the row is being read.
        #expect(try await cache.value(for: "token") { cache.remove("token"); return 1 } == 1)
        #expect(cache.cached("token") == nil)
        #expect(try await cache.value(for: "token") { cache.removeAll { _, _ in false }; return 2 } == 2)
        #expect(cache.cached("token") == nil)
        #expect(try await cache.value(for: "token") { cache.expireAll(); return 3 } == 3)
        #expect(cache.cached("token") == nil)
        // Loaded with no invalidation in between: kept.
        #expect(try await cache.value(for: "token") { 4 } == 4)
        #expect(cache.cached("token") == 4)
    }

    /// An entry expiring under load costs the database one query, not one per waiting call.
    @Test func callersMissingTheSameKeyTogetherShareOneLoad() async throws {
        let cache = ReadThroughCache<String, Int>(name: "test", timeToLive: .seconds(60))
        let loads = Count()
        let answers = try await withThrowingTaskGroup(of: Int?.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    try await cache.value(for: "token") {
                        loads.increment()
                        try await Task.sleep(for: .milliseconds(200))
                        return 7
                    }
                }
            }
            return try await group.reduce(into: [Int?]()) { $0.append($1) }
        }
        #expect(answers == Array(repeating: 7, count: 20))
        #expect(loads.current == 1)
        #expect(cache.cached("token") == 7)
        // A shared load that fails fails for each caller (none had a value to fall back on).
        cache.remove("token")
        let failures = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<5 {
                group.addTask {
                    do {
                        _ = try await cache.value(for: "token") { try await Task.sleep(for: .milliseconds(100)); throw LoadFailed() }
                        return false
                    } catch { return error is LoadFailed }
                }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(failures == 5)
    }

    /// A caller that comes after an invalidation (a revocation's notification) does not share a
    /// load that began before it: that load may have read the row before the change committed.
    @Test func aCallerAfterAnInvalidationDoesNotShareAnEarlierLoad() async throws {
        let cache = ReadThroughCache<String, Int>(name: "test", timeToLive: .seconds(60))
        let released = Flag(), started = Flag()
        let before = Task {
            try await cache.value(for: "token") {
                started.set()
                _ = try await eventually { released.isSet }
                return 1  // the row as it was before the revocation
            }
        }
        try #require(try await eventually { started.isSet })
        cache.remove("token")
        #expect(try await cache.value(for: "token") { nil } == nil)  // its own load: revoked
        released.set()
        #expect(try await before.value == 1)
        #expect(cache.cached("token") == nil)
    }

    /// A value asked for in the second half of its time to live is served at once and reloaded
    /// meanwhile, once however many callers come: an agent calling every few seconds never waits
    /// for its token, run or budgets to be read again.
    @Test func aValueInSteadyUseIsReloadedAheadOfExpiryWhileItIsServed() async throws {
        let time = ManualClock()
        let cache = ReadThroughCache<String, Int>(name: "test", timeToLive: .seconds(2), clock: { time.now() })
        let loads = Count(), released = Flag()
        let reload: @Sendable () async throws -> Int? = {
            loads.increment()
            _ = try await eventually { released.isSet }
            return 2
        }
        cache.put(1, for: "a")
        // First half of its time to live: served, not reloaded.
        #expect(try await cache.value(for: "a") { Issue.record("reloaded while young"); return 0 } == 1)
        time.advance(by: .milliseconds(1100))
        // Second half: served at once while the reload, held back here, is in flight.
        for _ in 0..<5 { #expect(try await cache.value(for: "a", load: reload) == 1) }
        try #require(try await eventually { loads.current == 1 })
        #expect(cache.cached("a") == 1)
        released.set()
        try #require(try await eventually { cache.cached("a") == 2 })
        #expect(loads.current == 1, "one reload however many callers came meanwhile")
        // Reloaded: young again.
        #expect(try await cache.value(for: "a") { Issue.record("reloaded while young"); return 0 } == 2)
    }

    /// A reload ahead of expiry keeps nothing an invalidation came during, and is not tried while the
    /// database is away or kept when it fails: the value is served until it expires either way.
    @Test func aReloadAheadOfExpiryObeysInvalidationsAndOutages() async throws {
        let database = Database()
        let time = ManualClock()
        let cache = ReadThroughCache<String, Int>(name: "test", timeToLive: .seconds(2), reachable: database.reachable, clock: { time.now() })
        cache.put(1, for: "a")
        time.advance(by: .milliseconds(1100))
        database.set(false)
        #expect(try await cache.value(for: "a") { Issue.record("reloaded while the database is away"); return 0 } == 1)
        database.set(true)
        let failed = Flag()
        #expect(try await cache.value(for: "a") { failed.set(); throw LoadFailed() } == 1)
        try #require(try await eventually { failed.isSet })
        try #require(try await eventually { !cache.isLoading("a") })  // the failed reload has landed
        #expect(cache.cached("a") == 1, "a failed reload changes nothing")
        // The notification of a change arrives while the reload reads the row as it was.
        let read = Flag()
        #expect(try await cache.value(for: "a") { cache.remove("a"); read.set(); return 3 } == 1)
        try #require(try await eventually { read.isSet })
        try #require(try await eventually { !cache.isLoading("a") })
        #expect(cache.cached("a") == nil, "a reload that straddles an invalidation is not kept")
    }

    @Test func whatNobodyAskedForDuringTwoRetentionsIsDropped() async throws {
        let database = Database()
        let time = ManualClock()
        let cache = ReadThroughCache<Int, Int>(name: "test", timeToLive: .milliseconds(10), retention: .milliseconds(50),
                                               reachable: database.reachable, clock: { time.now() })
        cache.put(0, for: -1)
        cache.put(0, for: -2)
        time.advance(by: .milliseconds(60))
        database.set(false)
        _ = try await cache.value(for: -2) { nil }  // still in use (during an outage, say)
        cache.put(1, for: 1)  // a retention has passed: the first rotation
        #expect(cache.cached(-1) == 0, "unused for one retention only: kept")
        time.advance(by: .milliseconds(60))
        _ = try await cache.value(for: -2) { nil }
        cache.put(2, for: 2)  // the second rotation
        #expect(cache.cached(-1) == nil, "unused for two retentions: dropped")
        #expect(cache.cached(-2) == 0, "asked for within each retention: kept")
        #expect(cache.cached(1) == 1 && cache.cached(2) == 2)
        #expect(cache.count == 3)
    }

    @Test func aFullCacheDropsItsOldestHalfNotEverything() async throws {
        let cache = ReadThroughCache<Int, Int>(name: "test", timeToLive: .seconds(60), capacity: 100)
        for key in 0..<1000 { cache.put(key, for: key) }
        let held = cache.count
        // Generations of 48: what a table of 64 slots holds (one of 50 would double for its last 2).
        #expect(held > 48 && held <= 96)
        let oldest = 1000 - held
        #expect((oldest..<1000).allSatisfy { cache.cached($0) == $0 }, "the newest entries are all kept")
        #expect(cache.cached(oldest - 1) == nil)
        // An entry asked for is kept through the next rotation; the rest of its generation goes.
        cache.update(oldest) { $0 = -oldest }
        #expect(try await cache.value(for: oldest) { nil } == -oldest)
        for key in 1000..<1050 { cache.put(key, for: key) }
        #expect(cache.cached(oldest) == -oldest)
        #expect(cache.cached(oldest + 1) == nil)
        #expect(cache.count <= 97)
    }

    /// A full generation never doubles its table: 100 k entries' worth of cache rotates at 49,152
    /// (a table of 65,536 slots), and a new generation is made that size.
    @Test func aFullGenerationRotatesBeforeItsTableDoubles() {
        let cache = ReadThroughCache<Int, Int>(name: "test", timeToLive: .seconds(60))  // capacity 100 k
        for key in 0..<49_152 { cache.put(key, for: key) }
        let full = cache.slots
        #expect(full == 49_152, "one table of 65,536 slots, never doubled to 131,072")
        // The next entry rotates; the new generation has room for as many as the last one held.
        for key in 49_152..<98_304 { cache.put(key, for: key) }
        #expect(cache.count == 98_304)
        #expect(cache.slots == 2 * 49_152, "two tables of 65,536 slots, neither doubled")
    }

    /// A table sized for a full generation is resident however few entries it holds (slots are
    /// spread by hash): the runs cache held ~30 MB per generation for 8 k runs.
    @Test func roomFollowsTheEntriesHeldNotTheCapacity() async throws {
        let time = ManualClock()
        let cache = ReadThroughCache<Int, Int>(name: "test", timeToLive: .milliseconds(10), retention: .milliseconds(200), clock: { time.now() })  // capacity 100 k
        for key in 0..<1_000 { cache.put(key, for: key) }
        #expect(cache.slots >= 1_000)
        #expect(cache.slots < 4_000, "room for the entries held, not for a 50 k generation")
        time.advance(by: .milliseconds(250))
        cache.put(1_000, for: 1_000)  // a retention has passed: the first rotation
        let afterRotation = cache.slots
        #expect(afterRotation >= 2_000 && afterRotation < 8_000, "the new generation has room for what the last one held")
        for key in 1_001..<2_000 { cache.put(key, for: key) }
        #expect(cache.slots == afterRotation, "as many entries again: no resize")
        #expect(cache.count == 2_000)
    }

    @Test func removeAllTakesWhatItPicksFromBothGenerations() {
        let cache = ReadThroughCache<Int, Int>(name: "test", timeToLive: .seconds(60), capacity: 8)
        for key in 0..<6 { cache.put(key, for: key) }  // 0–3 in the previous generation, 4–5 in the current
        cache.removeAll { _, value in value % 2 == 1 }
        #expect((0..<6).map { cache.cached($0) } == [0, nil, 2, nil, 4, nil])
        #expect(cache.count == 3)
    }

    @Test func expireAllMarksEverythingOutOfDateWithoutDroppingIt() async throws {
        let database = Database()
        let cache = ReadThroughCache<String, Int>(name: "test", timeToLive: .seconds(60), reachable: database.reachable)
        cache.put(1, for: "a")
        cache.expireAll()
        database.set(false)
        #expect(try await cache.value(for: "a") { 5 } == 1)
        database.set(true)
        #expect(try await cache.value(for: "a") { 5 } == 5)
    }
}
