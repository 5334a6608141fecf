import Common
@testable import DataPlane
import NIOCore
import Testing

/// The usage of a whole (non-streamed) answer, in each API's own format: read from the answer's
/// bytes without building it, the counts as each API means them.
@Suite struct UsageScannerTests {
    static func usage(of answer: String, _ endpoint: ProviderEndpoint) -> TokenUsage {
        var scanner = UsageScanner(endpoint: endpoint, stripUsageChunk: false)
        scanner.scan(body: ByteBuffer(string: answer))
        return scanner.finalUsage(requestBytes: 400)
    }

    @Test(arguments: [
        // Chat completions: cached tokens inside the prompt's; the usage after the content, among
        // members of every kind.
        (ProviderEndpoint.chatCompletions, """
            {"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,
             "message":{"role":"assistant","content":"usage: {\\"prompt_tokens\\": 999}","tool_calls":null},"finish_reason":"stop"}],
             "usage":{"prompt_tokens":1200,"completion_tokens":70,"total_tokens":1270,
                      "prompt_tokens_details":{"cached_tokens":1024,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}},
             "system_fingerprint":"fp_1"}
            """, TokenUsage(input: 1200, output: 70, cachedInput: 1024)),
        (ProviderEndpoint.embeddings, """
            {"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,-0.2]}],"model":"text-embedding-3-small",
             "usage":{"prompt_tokens":8,"total_tokens":8}}
            """, TokenUsage(input: 8, output: 0)),
        // Responses: input_tokens_details.
        (ProviderEndpoint.responses, """
            {"id":"resp_1","object":"response","usage":{"input_tokens":30,"input_tokens_details":{"cached_tokens":4},
             "output_tokens":12,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":42},"output":[]}
            """, TokenUsage(input: 30, output: 12, cachedInput: 4)),
        // Anthropic: cache reads and writes beside input_tokens, counted into the input.
        (ProviderEndpoint.messages, """
            {"id":"msg_1","type":"message","content":[{"type":"text","text":"Hi"}],
             "usage":{"input_tokens":10,"cache_creation_input_tokens":100,"cache_read_input_tokens":2000,"output_tokens":5}}
            """, TokenUsage(input: 2110, output: 5, cachedInput: 2000)),
    ])
    func aWholeAnswersUsageIsReadInItsAPIsTerms(endpoint: ProviderEndpoint, answer: String, expected: TokenUsage) {
        #expect(Self.usage(of: answer, endpoint) == expected)
    }

    /// Without a usable usage object the call is estimated from its size (the request's 400 bytes
    /// here), never charged from a count that is not one.
    @Test(arguments: [
        #"{"id":"x","choices":[]}"#,
        #"{"usage":null}"#,
        #"{"usage":[1,2]}"#,
        #"{"usage":{"prompt_tokens":"12","completion_tokens":7.5}}"#,
        #"{"usage":{"prompt_tokens":12,"completion_tokens":7}"#,  // cut off
        "not json",
    ])
    func anAnswerWithoutUsableCountsIsEstimated(answer: String) {
        #expect(Self.usage(of: answer, .chatCompletions) == TokenUsage(input: 100, output: 0, estimated: true))
    }

    /// A repeated member counts with its last value, as everywhere else JSON is read here.
    @Test func aRepeatedCountKeepsItsLastValue() {
        let answer = #"{"usage":{"prompt_tokens":1,"completion_tokens":2,"prompt_tokens":3},"usage":{"prompt_tokens":5,"completion_tokens":6}}"#
        #expect(Self.usage(of: answer, .chatCompletions) == TokenUsage(input: 5, output: 6))
    }
}
