import Common
import HTTPTypes
import Foundation
import Hummingbird

/// What a test asks of the mock for one request, through headers or markers in the prompt text
/// (markers survive any proxy that rewrites headers; `GET /v1/models` has only the headers):
///
/// - `x-mock-error: 429|500|503|timeout` or `[[error:429]]`: fail that way.
/// - `x-mock-latency-ms: N` or `[[latency:N]]`: wait N ms before answering (and between chunks).
/// - `x-mock-tool-call: NAME` or `[[tool:NAME {json}]]`: answer with a call of tool NAME (args optional).
/// - `[[words:N]]`: answer with N words (one stream chunk per word).
/// - `[[cut:N]]`: stream N chunks, then drop the connection without finishing.
/// - `[[no-usage]]`: send no usage block (the proxy must count tokens itself).
struct MockInstructions: Sendable {
    enum Failure: Sendable, Equatable { case status(Int), timeout }

    var failure: Failure?
    var latencyMilliseconds: Int
    var toolCall: (name: String, arguments: String)?
    var words: Int
    var cutAfterChunks: Int?
    var sendUsage = true

    init(request: Request, body: JSONValue, defaultLatencyMilliseconds: Int) {
        let text = Array(MockInstructions.promptText(body).utf8)  // its markers are found in the bytes
        let headers = request.headers
        latencyMilliseconds = defaultLatencyMilliseconds
        words = 8

        if let value = headers[HTTPField.Name("x-mock-error")!] ?? Self.marker("error", in: text) {
            failure = value == "timeout" ? .timeout : Int(value).map(Failure.status)
        }
        if let value = headers[HTTPField.Name("x-mock-latency-ms")!] ?? Self.marker("latency", in: text), let ms = Int(value) {
            latencyMilliseconds = ms
        }
        if let name = headers[HTTPField.Name("x-mock-tool-call")!] {
            toolCall = (name, headers[HTTPField.Name("x-mock-tool-arguments")!] ?? "{}")
        } else if let value = Self.marker("tool", in: text) {
            let parts = value.split(separator: " ", maxSplits: 1)
            toolCall = (String(parts[0]), parts.count > 1 ? String(parts[1]) : "{}")
        }
        if let value = Self.marker("words", in: text), let count = Int(value) { words = max(1, count) }
        if let value = Self.marker("cut", in: text), let count = Int(value) { cutAfterChunks = count }
        if ByteSearch.firstOffset(of: Array("[[no-usage]]".utf8), in: text) != nil { sendUsage = false }
    }

    /// Fails the request as asked (`x-mock-error`): an error answer, or none in any reasonable time
    /// (the caller's timeout must fire).
    func failIfAsked() async throws {
        switch failure {
        case .timeout:
            try await Task.sleep(for: .seconds(600))
        case .status(let code):
            throw RungateError(HTTPResponse.Status(code: code), code: "mock_injected_error",
                               message: "The mock provider failed this request on purpose (\(code)).",
                               headers: code == 429 ? [.retryAfter: "1"] : [:])
        case nil:
            break
        }
    }

    /// The answer's words: deterministic so tests can assert on them.
    var replyWords: [String] {
        let vocabulary = ["This", "is", "a", "mock", "answer", "from", "the", "provider"]
        return (0..<words).map { vocabulary[$0 % vocabulary.count] }
    }

    /// `[[name:value]]` in `text` (its UTF-8 bytes), if present.
    static func marker(_ name: String, in text: [UInt8]) -> String? {
        let opening = Array("[[\(name):".utf8)
        guard let start = ByteSearch.firstOffset(of: opening, in: text).map({ $0 + opening.count }),
              let end = ByteSearch.firstOffset(of: Array("]]".utf8), in: text, from: start) else { return nil }
        return String(decoding: text[start..<end], as: UTF8.self)
    }

    /// All string content of the request, for markers and token estimates.
    static func promptText(_ body: JSONValue) -> String {
        var parts: [String] = []
        func collect(_ value: JSONValue) {
            switch value {
            case .string(let string): parts.append(string)
            case .array(let array): array.forEach(collect)
            case .object(let object): object.values.forEach(collect)
            default: break
            }
        }
        for key in ["messages", "input", "system", "instructions", "prompt"] {
            if let value = body[key] { collect(value) }
        }
        return parts.joined(separator: " ")
    }

    /// A rough prompt token count (4 characters a token), at least 1.
    static func promptTokens(_ body: JSONValue) -> Int {
        max(1, promptText(body).utf8.count / 4)
    }
}
