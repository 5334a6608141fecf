import DataPlane
import Foundation
import Logging
import Synchronization
import Testing

@Suite struct TokenUsageRecorderTests {
    /// Records the ids each write marks; its first write never returns (a query postgres-nio lost).
    final class Tokens: AgentRepository {
        private let writes = Mutex((count: 0, marked: Set<UUID>()))
        let lost = AsyncStream<Void>.makeStream()

        var marked: Set<UUID> { writes.withLock { $0.marked } }

        func principal(tokenHash: String) async throws -> AgentPrincipal? { nil }

        func markUsed(tokenIDs: [UUID]) async throws {
            let first = writes.withLock { writes in
                writes.count += 1
                return writes.count == 1
            }
            if first {
                for await _ in lost.stream {}
                return
            }
            writes.withLock { $0.marked.formUnion(tokenIDs) }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aWriteThatNeverReturnsIsLeftBehindAndItsTokensWrittenNextTime() async throws {
        let tokens = Tokens()
        defer { tokens.lost.continuation.finish() }
        let recorder = TokenUsageRecorder(repository: tokens, logger: Logger(label: "rungate.test"), writeDeadline: .milliseconds(50))
        let first = UUID(), second = UUID()

        recorder.noteUse(of: first)
        await recorder.flush()  // returns at its deadline; the token waits for the next write
        #expect(tokens.marked.isEmpty)

        recorder.noteUse(of: second)
        await recorder.flush()
        #expect(tokens.marked == [first, second])
    }
}
