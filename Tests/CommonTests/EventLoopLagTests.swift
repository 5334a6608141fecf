import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing
import TestSupport

@testable import Common

/// The event-loop lag monitor: a loop kept busy shows up as lag of about as long.
@Suite struct EventLoopLagTests {
    @Test func aLoopBlockedFor150MillisecondsShowsThatMuchLag() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let samples = Samples()
        let monitor = EventLoopLagMonitor(group: group, interval: .milliseconds(10)) { samples.add($0) }
        let running = Task { try await monitor.run() }
        #expect(try await eventually { samples.count >= 3 })
        // Work that holds the loop: the next timer fires that much late.
        try await group.next().submit { _ = usleep(150_000) }.get()
        #expect(try await eventually { samples.largest >= .milliseconds(100) }, "largest lag \(samples.largest)")
        running.cancel()
        _ = await running.result
        try await group.shutdownGracefully()
    }

    final class Samples: Sendable {
        private let values = Mutex<[TimeAmount]>([])
        func add(_ lag: TimeAmount) { values.withLock { $0.append(lag) } }
        var count: Int { values.withLock { $0.count } }
        var largest: TimeAmount { values.withLock { $0.max() ?? .zero } }
    }
}
