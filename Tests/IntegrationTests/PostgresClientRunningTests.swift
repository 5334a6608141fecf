import Common
import Logging
import PostgresNIO
import Synchronization
import TestSupport
import Testing

@Suite struct PostgresClientRunningTests {
    /// The warnings (and worse) a logger was given.
    final class Warnings: Sendable {
        let messages = Mutex<[String]>([])
    }

    struct RecordingHandler: LogHandler {
        let warnings: Warnings
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String,
                 file: String, function: String, line: UInt) {
            if level >= .warning { warnings.messages.withLock { $0.append(message.description) } }
        }
    }

    /// `rungate-control migrate` (and `bootstrap`, `create-token`) logged postgres-nio's "run()
    /// hasn't been called yet" warning when its first query raced the client's start.
    @Test func aOneShotCommandsClientRunsBeforeItsFirstQuery() async throws {
        let warnings = Warnings()
        let logger = Logger(label: "rungate.test") { _ in RecordingHandler(warnings: warnings) }
        var options = ServiceOptions()
        options.databaseURL = try TestServers.databaseURL()
        for _ in 0..<5 {
            try await options.withDatabase(applicationName: "rungate-test", logger: logger) { database in
                let one = try await database.client.query("SELECT 1", logger: logger).first(decoding: Int.self)
                #expect(one == 1)
            }
        }
        let logged = warnings.messages.withLock { $0 }
        #expect(logged == [])
    }
}
