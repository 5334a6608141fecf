import ArgumentParser
import Common
import Hummingbird
import MockProvider

@main
struct RungateMockProvider: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rungate-mock-provider",
        abstract: "A mock LLM provider speaking the OpenAI and Anthropic wire formats (tests, demo, benchmarks).")

    @Option(help: "Address to bind (env RUNGATE_MOCK_HOST).")
    var host: String = Env.get("RUNGATE_MOCK_HOST") ?? "127.0.0.1"

    @Option(help: "Port (env RUNGATE_MOCK_PORT).")
    var port: Int = Env.int("RUNGATE_MOCK_PORT") ?? 9090

    @Option(help: "Latency added to every answer and between stream chunks, in ms (env RUNGATE_MOCK_LATENCY_MS).")
    var latencyMs: Int = Env.int("RUNGATE_MOCK_LATENCY_MS") ?? 0

    @Option(help: "Log level.")
    var logLevel: String = Env.get("RUNGATE_LOG_LEVEL") ?? "info"

    func run() async throws {
        RungateLogging.bootstrap(level: .init(rawValue: logLevel) ?? .info, format: .json)
        let app = buildMockProvider(configuration: .init(host: host, port: port, latencyMilliseconds: latencyMs))
        try await app.runService()
    }
}
