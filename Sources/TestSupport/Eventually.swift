/// Polls `condition` until it holds or `timeout` has passed, and says whether it held: for what a
/// test can only observe from outside (bytes on a socket, rows written by a background flush).
public func eventually(within timeout: Duration = .seconds(10), every interval: Duration = .milliseconds(5),
                       _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else { return false }
        try await Task.sleep(for: interval)
    }
    return true
}
