import Synchronization

/// Time that moves only when a test moves it: ages, leases and windows then do not depend on how
/// long a loaded machine takes between two steps. What a component takes as its clock is `now()`.
public final class ManualClock: Sendable {
    private let start = ContinuousClock.now
    private let elapsed = Mutex(Duration.zero)

    public init() {}

    public func now() -> ContinuousClock.Instant { start + elapsed.withLock { $0 } }

    public func advance(by duration: Duration) { elapsed.withLock { $0 += duration } }
}
