import Common
import HTTPTypes
import Crypto
import Foundation
import Hummingbird
import Logging
import Synchronization

/// Settings of the mock provider.
public struct MockProviderConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// Latency added to every answer (and between stream chunks) unless a request asks otherwise.
    public var latencyMilliseconds: Int

    public init(host: String = "127.0.0.1", port: Int = 9090, latencyMilliseconds: Int = 0) {
        self.host = host
        self.port = port
        self.latencyMilliseconds = latencyMilliseconds
    }
}

/// Counts what the mock received, so tests can assert that a held response caused no second call.
public final class MockProviderStats: Sendable {
    private let counts = Mutex<[String: Int]>([:])

    public init() {}

    func record(_ path: String) { counts.withLock { $0[path, default: 0] += 1 } }

    public func count(_ path: String) -> Int { counts.withLock { $0[path, default: 0] } }
    public var total: Int { counts.withLock { $0.values.reduce(0, +) } }
}

/// Builds the mock LLM provider: OpenAI chat completions, responses, embeddings and models, and
/// Anthropic messages, streaming and not. Any model name is answered. A request must carry an API
/// key (`Authorization: Bearer` or `x-api-key`); a Rungate token reaching it is refused, since that
/// would mean the proxy leaked the agent's credential upstream. Every answer carries
/// `x-mock-key-sha256`, the first 12 hex characters of the key's SHA-256, so tests can check which
/// provider key was used without it appearing anywhere.
public func buildMockProvider(
    configuration: MockProviderConfiguration, stats: MockProviderStats = MockProviderStats(), logger: Logger? = nil
) -> some ApplicationProtocol {
    let router = Router(context: RungateRequestContext.self)
    router.addMiddleware { ErrorMiddleware<RungateRequestContext>(shape: { ErrorShape.dataPlane(path: $0.uri.path) }) }
    router.get("/healthz") { _, _ in jsonResponse(.ok, ["status": "ok", "service": "mock-provider"]) }
    router.get("/mock/stats") { _, _ in jsonResponse(.ok, ["total": .number(Double(stats.total))]) }

    router.get("/v1/models") { request, _ in
        stats.record("/v1/models")
        _ = try providerKey(request)
        let instructions = MockInstructions(request: request, body: .null, defaultLatencyMilliseconds: configuration.latencyMilliseconds)
        try await instructions.failIfAsked()
        if instructions.latencyMilliseconds > 0 { try await Task.sleep(for: .milliseconds(instructions.latencyMilliseconds)) }
        let models: [JSONValue] = ["gpt-4o-mini", "gpt-4o", "text-embedding-3-small", "claude-sonnet-4-6"].map {
            ["id": .string($0), "object": "model", "created": 1_700_000_000, "owned_by": "mock"]
        }
        return jsonResponse(.ok, ["object": "list", "data": .array(models)])
    }

    let endpoints: [(String, @Sendable (JSONValue, MockInstructions) -> Response)] = [
        ("/v1/chat/completions", OpenAIChatCompletions.respond),
        ("/v1/responses", OpenAIResponses.respond),
        ("/v1/embeddings", { body, _ in OpenAIEmbeddings.respond(body: body) }),
        ("/v1/messages", AnthropicMessages.respond),
    ]
    for (path, respond) in endpoints {
        router.post(RouterPath(path)) { request, context in
            stats.record(path)
            let keyDigest = try providerKey(request)
            let buffer = try await request.body.collect(upTo: 16 * 1024 * 1024)
            let body: JSONValue
            do {
                body = try JSONParser.parse(buffer.readableBytesView)  // Foundation's decoder took ~ms on agent-sized requests
            } catch {
                throw RungateError.badRequest("The mock could not parse the request body as JSON.")
            }
            let instructions = MockInstructions(request: request, body: body, defaultLatencyMilliseconds: configuration.latencyMilliseconds)
            try await instructions.failIfAsked()
            if instructions.latencyMilliseconds > 0, body["stream"] != .bool(true) {
                try await Task.sleep(for: .milliseconds(instructions.latencyMilliseconds))
            }
            var response = respond(body, instructions)
            response.headers[HTTPField.Name("x-mock-key-sha256")!] = keyDigest
            return response
        }
    }

    return Application(
        router: router,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "rungate-mock-provider"),
        logger: logger ?? Logger(label: "rungate.mock-provider"))
}

/// The digest of the API key the caller sent; 401 in the provider's shape when there is none.
private func providerKey(_ request: Request) throws -> String {
    var key = request.headers[.authorization].flatMap { value -> String? in
        value.hasPrefix("Bearer ") ? String(value.dropFirst(7)) : nil
    }
    if key == nil { key = request.headers[HTTPField.Name("x-api-key")!] }
    guard let key, !key.isEmpty else {
        throw RungateError(.unauthorized, code: "invalid_api_key", message: "The mock provider needs an API key.")
    }
    guard !key.hasPrefix("rg_") else {
        throw RungateError(.unauthorized, code: "rungate_token_leaked",
                           message: "A Rungate token reached the provider: the proxy must replace it with the org's provider key.")
    }
    return String(SHA256.hash(data: Array(key.utf8)).hexString.prefix(12))
}
