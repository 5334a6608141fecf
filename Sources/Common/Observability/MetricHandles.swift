import Synchronization

/// Metric handles made once per key and kept. Making one (`Counter(label:dimensions:)` and the like)
/// asks the metrics factory, which validates the name and labels and looks the series up under its
/// lock — about 7 k instructions with Prometheus; a kept handle costs a dictionary look-up.
public final class MetricHandles<Key: Hashable & Sendable, Handle: Sendable>: Sendable {
    private let handles = Mutex<[Key: Handle]>([:])

    public init() {}

    /// The handle of `key`, made by `make` the first time.
    public func handle(_ key: Key, make: () -> Handle) -> Handle {
        handles.withLock { handles in
            if let found = handles[key] { return found }
            let made = make()
            handles[key] = made
            return made
        }
    }
}
