import Common
import Foundation
import NIOPosix
import TestSupport
import Testing

@Suite struct RedisClientTests {
    @Test func commandsRoundTrip() async throws {
        try await withRedisClient { (redis: RedisClient) async throws in
            let key = "test:\(UUID())"
            #expect(try await redis.send("SET", key, "value with spaces\n").string == "OK")
            #expect(try await redis.send("GET", key) == .bulk(Array("value with spaces\n".utf8)))
            #expect(try await redis.send("GET", "test:missing:\(UUID())") == .null)
            #expect(try await redis.send("INCRBY", key + ":n", "5").int == 5)
            await #expect(throws: RedisError.self) { try await redis.send("INCR", key) }  // not an integer
            #expect(await redis.ping())
        }
    }

    @Test func luaScriptsRunByHashAndReloadAfterAFlush() async throws {
        let script = RedisScript("""
            local current = redis.call('INCRBY', KEYS[1], ARGV[1])
            return {current, KEYS[1]}
            """)
        try await withRedisClient { (redis: RedisClient) async throws in
            let key = "{org-\(UUID())}:counter"
            let first = try await redis.eval(script, keys: [key], arguments: ["3"])
            #expect(first.array?.first?.int == 3)
            #expect(first.array?.last?.string == key)
            try await redis.send("SCRIPT", "FLUSH")  // as after a Redis restart: EVALSHA answers NOSCRIPT
            let second = try await redis.eval(script, keys: [key], arguments: ["4"])
            #expect(second.array?.first?.int == 7)
            #expect(try await redis.send("SCRIPT", "EXISTS", script.sha1).array == [.integer(1)])
        }
    }

    @Test func concurrentCallersShareAPoolWithoutLosingUpdates() async throws {
        try await withRedisClient(poolSize: 4) { (redis: RedisClient) async throws in
            let key = "test:concurrent:\(UUID())"
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<200 { group.addTask { try await redis.send("INCR", key) } }
                try await group.waitForAll()
            }
            #expect(try await redis.send("GET", key).int == 200)
        }
    }

    @Test func anUnreachableRedisFailsFastWithAConnectionError() async throws {
        let redis = RedisClient(configuration: RedisConfiguration(host: "127.0.0.1", port: 1, connectTimeout: .milliseconds(300)),
                                logger: TestServers.logger)
        let error = await #expect(throws: RedisError.self) { try await redis.send("PING") }
        if case .connection = error {} else { Issue.record("expected a connection error, got \(String(describing: error))") }
        #expect(!(await redis.ping()))
        try await redis.shutdown()
    }

    /// A server that takes the connection and never answers: the command fails after the command
    /// timeout, with the commands pipelined behind it, instead of waiting for ever.
    @Test(.timeLimit(.minutes(1))) func commandsWithoutAReplyFailAfterTheCommandTimeout() async throws {
        let silent = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let redis = RedisClient(configuration: RedisConfiguration(host: "127.0.0.1", port: silent.localAddress!.port!,
                                                                  commandTimeout: .milliseconds(200)),
                                logger: TestServers.logger)
        await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<3 {
                group.addTask {
                    do { _ = try await redis.send("PING"); return false } catch RedisError.connection { return true } catch { return false }
                }
            }
            for await failedAsConnectionError in group { #expect(failedAsConnectionError) }
        }
        try await redis.shutdown()
        try await silent.close()
    }

    @Test func pipelinedRepliesAnswerTheirOwnCommands() async throws {
        try await withRedisClient(poolSize: 1) { (redis: RedisClient) async throws in
            try await withThrowingTaskGroup(of: (Int, String?).self) { group in
                for index in 0..<500 { group.addTask { (index, try await redis.send("ECHO", "message-\(index)").string) } }
                for try await (index, echoed) in group { #expect(echoed == "message-\(index)") }
            }
        }
    }

    @Test func aKilledConnectionIsReplacedOnTheNextCall() async throws {
        try await withRedisClient(poolSize: 1) { (redis: RedisClient) async throws in
            // Redis closes the client's one connection (killing itself: SKIPME no).
            let id = try #require(try await redis.send("CLIENT", "ID").int)
            _ = try? await redis.send("CLIENT", "KILL", "ID", String(id), "SKIPME", "no")
            var answered = false
            for _ in 0..<3 where !answered { answered = await redis.ping() }
            #expect(answered, "the client reconnects by itself")
        }
    }

    @Test func aConnectionClosedWhileIdleIsReplacedBeforeTheNextCommand() async throws {
        try await withRedisClient(poolSize: 1) { (redis: RedisClient) async throws in
            let id = try #require(try await redis.send("CLIENT", "ID").int)
            // Another client has Redis close this one's connection while it sits idle.
            try await withRedisClient { (other: RedisClient) async throws in
                #expect(try await other.send("CLIENT", "KILL", "ID", String(id)).int == 1)
            }
            try await Task.sleep(for: .milliseconds(200))  // the close reaches the idle connection
            // The very next command succeeds, on a new connection: none fails to discover the close.
            let newID = try await redis.send("CLIENT", "ID").int
            #expect(newID != nil && newID != id)
        }
    }
}
