import Common
import Synchronization
import Testing

/// The data plane's read-through cache: served stale (and only then) while the database is away,
/// and bounded by sweeping what nobody asked for during its retention.
@Suite struct ReadThroughCacheTests {
    struct LoadFailed: Error {}

    /// Stands for the database's health monitor.
    final class Database: Sendable {
        let answers = Atomic<Bool>(true)
        func set(_ value: Bool) { answers.store(value, ordering: .relaxed) }
        var reachable: @Sendable () -> Bool { { self.answers.load(ordering: .relaxed) } }
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

    @Test func whatNobodyAskedForDuringTheRetentionIsSwept() async throws {
        let database = Database()
        let cache = ReadThroughCache<Int, Int>(name: "test", timeToLive: .milliseconds(10), retention: .milliseconds(50), reachable: database.reachable)
        cache.put(0, for: -1)
        cache.put(0, for: -2)
        try await Task.sleep(for: .milliseconds(120))
        database.set(false)
        _ = try await cache.value(for: -2) { nil }  // still in use (during an outage, say)
        for key in 0..<1024 { cache.put(key, for: key) }
        #expect(cache.cached(-1) == nil, "unused past the retention: swept")
        #expect(cache.cached(-2) == 0, "asked for within the retention: kept")
        #expect(cache.count == 1025)
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
