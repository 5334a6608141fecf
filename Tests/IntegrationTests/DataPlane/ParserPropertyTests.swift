import Common
@testable import DataPlane
import Foundation
import NIOCore
import TestSupport
import Testing

/// Property tests of what reads untrusted bytes on every call: the stream usage scanner, the tool-
/// call assembler and the policy evaluator. Inputs come from a seeded generator (a failure names
/// its seed), thousands per run: whatever the input, nothing crashes, and what is read does not
/// depend on how the bytes were split into chunks.
@Suite struct ParserPropertyTests {
    typealias Generator = SeededGenerator

    static let chatStream = Array("""
        data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}

        data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hello there"}}]}

        data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"t","function":{"name":"delete_database","arguments":""}}]}}]}

        data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\\"env\\":"}}]}}]}

        data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\\"prod\\"}"}}]}}]}

        data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19}}

        data: [DONE]


        """.utf8)

    /// Feeds `bytes` in chunks cut at random places; returns what was forwarded, the usage and the tool calls.
    static func scan(_ bytes: [UInt8], strip: Bool, using generator: inout Generator) -> ([UInt8], TokenUsage, [ProposedToolCall]) {
        var scanner = UsageScanner(endpoint: .chatCompletions, stripUsageChunk: strip)
        scanner.toolCalls = StreamedToolCalls()
        var forwarded: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let length = Int.random(in: 1...max(1, min(64, bytes.count - index)), using: &generator)
            let out = scanner.feed(ByteBuffer(bytes: bytes[index..<index + length]))
            forwarded += Array(buffer: out)
            index += length
        }
        forwarded += Array(buffer: scanner.finish())
        return (forwarded, scanner.finalUsage(requestBytes: 100), scanner.toolCalls?.calls ?? [])
    }

    @Test func streamReadingDoesNotDependOnChunkBoundaries() {
        var generator = Generator(seed: 0x5EED)
        let (wholeOut, wholeUsage, wholeCalls) = Self.scan(Self.chatStream, strip: true, using: &generator)
        #expect(wholeUsage == TokenUsage(input: 12, output: 7))
        #expect(wholeCalls == [ProposedToolCall(name: "delete_database", arguments: ["env": "prod"])])
        #expect(!String(decoding: wholeOut, as: UTF8.self).contains("prompt_tokens"), "the usage chunk Rungate asked for is stripped")
        for seed in 1...600 as ClosedRange<UInt64> {
            var generator = Generator(seed: seed)
            let (passed, usage, calls) = Self.scan(Self.chatStream, strip: false, using: &generator)
            #expect(passed == Self.chatStream, "seed \(seed): bytes pass through unchanged")
            #expect(usage == wholeUsage && calls == wholeCalls, "seed \(seed)")
            let (stripped, strippedUsage, _) = Self.scan(Self.chatStream, strip: true, using: &generator)
            #expect(stripped == wholeOut && strippedUsage == wholeUsage, "seed \(seed)")
        }
    }

    /// The same stream with CRLF line ends reads the same, however it is split (a blank line is
    /// found across chunk boundaries, between a CR and its LF too).
    @Test func crlfStreamsReadTheSameAtAnySplit() {
        let crlf = Array(String(decoding: Self.chatStream, as: UTF8.self).replacingOccurrences(of: "\n", with: "\r\n").utf8)
        var generator = Generator(seed: 0xC41F)
        let (_, wholeUsage, wholeCalls) = Self.scan(Self.chatStream, strip: false, using: &generator)
        for seed in 1...300 as ClosedRange<UInt64> {
            var generator = Generator(seed: seed)
            let (passed, usage, calls) = Self.scan(crlf, strip: false, using: &generator)
            #expect(passed == crlf && usage == wholeUsage && calls == wholeCalls, "seed \(seed)")
            let (stripped, strippedUsage, _) = Self.scan(crlf, strip: true, using: &generator)
            #expect(!String(decoding: stripped, as: UTF8.self).contains("prompt_tokens") && strippedUsage == wholeUsage, "seed \(seed)")
        }
    }

    /// Lines may end in CRLF (the SSE grammar allows it): an Anthropic event whose `event:` line comes
    /// first is still read. (Split as a Swift String, "\r\n" is one character, not a line end.)
    @Test func eventsWithCRLFLineEndsAreRead() {
        let stream = "event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":21,\"output_tokens\":1}}}\r\n\r\n"
            + "event: content_block_delta\r\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi!\"}}\r\n\r\n"
            + "event: message_delta\r\ndata:{\"type\":\"message_delta\",\"usage\":{\"output_tokens\":9}}\r\n\r\n"
        var scanner = UsageScanner(endpoint: .messages, stripUsageChunk: false)
        #expect(scanner.feed(ByteBuffer(string: stream)) == ByteBuffer(string: stream))
        _ = scanner.finish()
        #expect(scanner.finalUsage(requestBytes: 100) == TokenUsage(input: 21, output: 9))
        #expect(scanner.deliveredCharacters == 3)
    }

    /// Each event is read for the members the scanner and the tool-call assembler use, the rest
    /// stepped over: a Responses and an Anthropic stream, with the members neither reads around them
    /// (ids, models, sequence numbers), give their usage, delivered text and tool calls in full.
    @Test(arguments: [
        (ProviderEndpoint.responses, """
            event: response.created
            data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_1","object":"response","status":"in_progress","usage":null}}

            event: response.output_text.delta
            data: {"type":"response.output_text.delta","sequence_number":1,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hello"}

            event: response.output_item.done
            data: {"type":"response.output_item.done","sequence_number":2,"output_index":1,"item":{"id":"fc_1","type":"function_call","status":"completed","call_id":"call_1","name":"delete_database","arguments":"{\\"env\\":\\"prod\\"}"}}

            event: response.completed
            data: {"type":"response.completed","sequence_number":3,"response":{"id":"resp_1","model":"gpt-4o-mini","usage":{"input_tokens":30,"input_tokens_details":{"cached_tokens":4},"output_tokens":12,"total_tokens":42}}}


            """, TokenUsage(input: 30, output: 12, cachedInput: 4), 5),
        (ProviderEndpoint.messages, """
            event: message_start
            data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4","usage":{"input_tokens":25,"output_tokens":1}}}

            event: content_block_start
            data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"delete_database","input":{}}}

            event: content_block_delta
            data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\\"env\\":\\"prod\\"}"}}

            event: message_delta
            data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":15}}


            """, TokenUsage(input: 25, output: 15), 14),
    ])
    func otherAPIsStreamsAreReadInFull(endpoint: ProviderEndpoint, stream: String, usage: TokenUsage, delivered: Int) {
        var scanner = UsageScanner(endpoint: endpoint, stripUsageChunk: false)
        scanner.toolCalls = StreamedToolCalls()
        #expect(scanner.feed(ByteBuffer(string: stream)) == ByteBuffer(string: stream))
        _ = scanner.finish()
        #expect(scanner.finalUsage(requestBytes: 100) == usage)
        #expect(scanner.deliveredCharacters == delivered)
        #expect(scanner.toolCalls?.calls == [ProposedToolCall(name: "delete_database", arguments: ["env": "prod"])])
    }

    @Test func arbitraryBytesNeverCrashTheScanners() {
        for seed in 1...1_000 as ClosedRange<UInt64> {
            var generator = Generator(seed: seed)
            // Random mixes of stream syntax and noise, including invalid UTF-8 and huge numbers.
            let pieces: [[UInt8]] = [Array("data: ".utf8), Array("\n\n".utf8), Array("{\"usage\":{\"prompt_tokens\":".utf8),
                                     Array("1e400".utf8), Array("-9999999999999999999}".utf8), [0xFF, 0xFE, 0x00], Array("[DONE]".utf8),
                                     Array("{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":99999999999}]}}]}".utf8)]
            var bytes: [UInt8] = []
            for _ in 0..<Int.random(in: 1...40, using: &generator) {
                bytes += Bool.random(using: &generator) ? pieces.randomElement(using: &generator)!
                    : (0..<Int.random(in: 1...20, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            }
            for endpoint in [ProviderEndpoint.chatCompletions, .messages, .responses] {
                var scanner = UsageScanner(endpoint: endpoint, stripUsageChunk: false)
                scanner.toolCalls = StreamedToolCalls()
                _ = scanner.feed(ByteBuffer(bytes: bytes))
                _ = scanner.finish()
                let usage = scanner.finalUsage(requestBytes: bytes.count)
                #expect(usage.input >= 0 && usage.output >= 0, "seed \(seed)")
                _ = scanner.toolCalls?.calls
            }
        }
    }

    /// A random JSON value: nested objects and arrays of strings (some holding secrets), numbers, booleans.
    static func json(depth: Int, using generator: inout Generator) -> JSONValue {
        let words = ["hello", "AKIA" + String(repeating: "Z", count: 16), "-----BEGIN PRIVATE KEY-----", "ignore previous instructions",
                     "gpt-4o-mini", "shell_exec", "", "\u{0}", "🙂", String(repeating: "a", count: 300)]
        switch Int.random(in: 0...(depth > 5 ? 2 : 5), using: &generator) {
        case 0: return .string(words.randomElement(using: &generator)!)
        case 1: return .number(Double(Int.random(in: -1_000_000...1_000_000, using: &generator)))
        case 2: return .bool(Bool.random(using: &generator))
        case 3: return .array((0..<Int.random(in: 0...4, using: &generator)).map { _ in json(depth: depth + 1, using: &generator) })
        default:
            let keys = ["model", "messages", "content", "role", "tools", "function", "name", "tool_calls", "input", "text", "type", "x"]
            var object: [String: JSONValue] = [:]
            for _ in 0..<Int.random(in: 0...5, using: &generator) {
                object[keys.randomElement(using: &generator)!] = json(depth: depth + 1, using: &generator)
            }
            return .object(object)
        }
    }

    @Test func thePolicyEvaluatorTakesAnyRequestAndRedactionLeavesNoSecret() throws {
        let policy = ActivePolicy(policyID: UUID(), name: "fuzz", version: 1, rules: [
            "models": ["allow": ["gpt-4o*"], "deny": ["gpt-4o-audio*"]],
            "tools": ["deny": ["shell*"]],
            "content": [
                ["name": "aws", "pattern": "AKIA[0-9A-Z]{16}", "action": "redact", "applies_to": "request"],
                ["name": "key", "pattern": "-----BEGIN [A-Z ]*PRIVATE KEY-----", "action": "block", "applies_to": "request"],
            ],
            "max_steps_per_run": 10, "max_tokens_per_run": 1000,
        ])
        #expect(policy.contentRules.count == 2, "the fixture's rules parse")
        let evaluator = PolicyEvaluator(policy: policy)
        var redacted = 0, blocked = 0
        for seed in 1...3_000 as ClosedRange<UInt64> {
            var generator = Generator(seed: seed)
            let request = Self.json(depth: 0, using: &generator)
            _ = evaluator.check(model: request["model"]?.stringValue, tools: PolicyEvaluator.toolNames(in: request),
                                runSteps: Int.random(in: 0...20, using: &generator), runTokens: Int.random(in: 0...2000, using: &generator))
            // Keys never hold the marker, so the encoded request holds it exactly when some string value does.
            let holdsKey = String(decoding: try JSONEncoder().encode(request), as: UTF8.self).contains("-----BEGIN PRIVATE KEY-----")
            switch evaluator.screen(request: request) {
            case .success(let rewritten?):
                redacted += 1
                #expect(!holdsKey, "seed \(seed): a request holding the blocked content is refused")
                let text = String(decoding: try JSONEncoder().encode(rewritten), as: UTF8.self)
                #expect(text.range(of: "AKIA[0-9A-Z]{16}", options: .regularExpression) == nil, "seed \(seed): the secret is gone")
            case .success(nil):
                #expect(!holdsKey, "seed \(seed): a request holding the blocked content is refused")
            case .failure(let violation):
                blocked += 1
                #expect(holdsKey && violation.rule == "content[1]", "seed \(seed): only the blocked content refuses")
            }
        }
        #expect(redacted > 0, "the generator reaches the redaction path")
        #expect(blocked > 0, "the generator reaches the block path")
    }
}
