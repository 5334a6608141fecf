@testable import DataPlane
import Foundation
import Testing

/// In-process counters (a data plane without Redis): expired counters are swept, by loop-detection
/// and rate-limit checks alike, and a table of live counters is not filtered again on every call.
@Suite struct GovernanceCountersTests {
    private let org = UUID()

    private func add(_ counters: GovernanceCounters, _ name: String, window: Int) async throws {
        _ = try await counters.add(GovernanceCounters.key(org: org, .text(name)), window: window)
    }

    @Test func expiredCountersAreSweptOnceTheTableReachesItsThreshold() async throws {
        let counters = GovernanceCounters(redis: nil, sweepThreshold: 4)
        for name in ["a", "b", "c", "d"] { try await add(counters, name, window: 0) }
        #expect(counters.localCount == 4)
        try await Task.sleep(for: .milliseconds(2))  // the zero-second windows are over
        try await add(counters, "e", window: 60)
        #expect(counters.localCount == 1)
    }

    @Test func liveCountersAreNotSweptAgainUntilTheTableHasDoubled() async throws {
        let counters = GovernanceCounters(redis: nil, sweepThreshold: 4)
        for name in ["k1", "k2", "k3", "k4"] { try await add(counters, name, window: 60) }
        try await add(counters, "x1", window: 0)  // sweeps: nothing has expired, so the next sweep waits for 8
        try await add(counters, "x2", window: 0)
        try await add(counters, "x3", window: 0)
        try await Task.sleep(for: .milliseconds(2))
        try await add(counters, "k5", window: 60)
        #expect(counters.localCount == 8)  // x1–x3 expired, but no sweep below 8
        try await add(counters, "k6", window: 60)
        #expect(counters.localCount == 6)  // k1–k6
    }

    @Test func rateLimitChecksSweepToo() async throws {
        let counters = GovernanceCounters(redis: nil, sweepThreshold: 2)
        func limit(_ name: String) -> GovernanceCounters.Limit {
            GovernanceCounters.Limit(key: GovernanceCounters.key(org: org, .text(name)), ceiling: 10, cost: 1)
        }
        #expect(counters.admitInProcess([limit("r1")], window: 0, resetSeconds: 1).allowed)
        #expect(counters.admitInProcess([limit("r2")], window: 0, resetSeconds: 1).allowed)
        try await Task.sleep(for: .milliseconds(2))
        #expect(counters.admitInProcess([limit("r3")], window: 60, resetSeconds: 1).allowed)
        #expect(counters.localCount == 1)
    }
}
