import PostgresNIO

extension PostgresClient {
    /// Runs `body` while this client runs (for one-shot commands and tests; a server runs its
    /// client in its `ServiceGroup` instead), and stops the client when `body` returns or throws.
    public func whileRunning<Result: Sendable>(_ body: (PostgresClient) async throws -> Result) async throws -> Result {
        try await withThrowingTaskGroup(of: Result?.self) { group in
            // Started immediately — on this thread, up to its first suspension, by which point
            // `run()` has marked the client running: as a plain child task it could start after
            // `body`'s first query, which postgres-nio still serves but warns about, on every
            // `rungate-control migrate`.
            group.addImmediateTask {
                await self.run()
                return nil
            }
            defer { group.cancelAll() }
            return try await body(self)
        }
    }
}
