import Common
import Testing

@Suite struct ConnectionURLTests {
    @Test func parsesAndNeverPrintsThePassword() throws {
        let url = try ConnectionURL("postgres://rungate_data:s3cr%40t@db.internal:5433/rungate?sslmode=disable")
        #expect(url.user == "rungate_data")
        #expect(url.password == "s3cr@t")
        #expect(url.host == "db.internal")
        #expect(url.port == 5433)
        #expect(url.path == "rungate")
        #expect(url.query["sslmode"] == "disable")
        #expect(!url.description.contains("s3cr"))
    }

    @Test func redisURLs() throws {
        let redis = try RedisConfiguration(url: "redis://:pw@127.0.0.1:6380/2?pool_size=4")
        #expect(redis.port == 6380)
        #expect(redis.database == 2)
        #expect(redis.password == "pw")
        #expect(redis.poolSize == 4)
        #expect(throws: ConfigurationError.self) { try RedisConfiguration(url: "http://x") }
        #expect(throws: ConfigurationError.self) { try RedisConfiguration(url: "redis://host/notanumber") }
    }
}
