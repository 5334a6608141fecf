import Common
import Synchronization
import Testing

/// Metric handles are made once per key: making one asks the metrics factory (validation, a look-up
/// under its lock), which the data plane used to do for every call.
@Suite struct MetricHandlesTests {
    final class Handle: Sendable {
        let key: String
        init(key: String) { self.key = key }
    }

    @Test func aHandleIsMadeOncePerKeyAndKept() {
        let handles = MetricHandles<String, Handle>()
        let made = Mutex(0)
        func handle(_ key: String) -> Handle {
            handles.handle(key) {
                made.withLock { $0 += 1 }
                return Handle(key: key)
            }
        }
        let first = handle("/v1/chat/completions")
        for _ in 0..<100 { #expect(handle("/v1/chat/completions") === first) }
        #expect(handle("/v1/messages").key == "/v1/messages")
        #expect(made.withLock { $0 } == 2)
    }
}
