import Common
import Foundation
import Hummingbird

/// `POST /v1/chat/completions` in OpenAI's wire format, streaming and not.
enum OpenAIChatCompletions {
    static func respond(body: JSONValue, instructions: MockInstructions) -> Response {
        let model = body["model"]?.stringValue ?? "mock-model"
        let id = "chatcmpl-\(MockIDs.random())"
        let created = Int(Date().timeIntervalSince1970)
        let promptTokens = MockInstructions.promptTokens(body)
        let words = instructions.replyWords
        let completionTokens = instructions.toolCall == nil ? words.count : 12
        let usage: JSONValue = [
            "prompt_tokens": .number(Double(promptTokens)),
            "completion_tokens": .number(Double(completionTokens)),
            "total_tokens": .number(Double(promptTokens + completionTokens)),
            "prompt_tokens_details": ["cached_tokens": 0],
        ]
        let toolCalls: JSONValue? = instructions.toolCall.map { call in
            [["id": .string("call_\(MockIDs.random())"), "type": "function",
              "function": ["name": .string(call.name), "arguments": .string(call.arguments)]]]
        }
        let finishReason: JSONValue = toolCalls == nil ? "stop" : "tool_calls"

        guard body["stream"] == .bool(true) else {
            var message: [String: JSONValue] = ["role": "assistant", "content": toolCalls == nil ? .string(words.joined(separator: " ")) : .null, "refusal": .null]
            if let toolCalls { message["tool_calls"] = toolCalls }
            var response: [String: JSONValue] = [
                "id": .string(id), "object": "chat.completion", "created": .number(Double(created)), "model": .string(model),
                "choices": [["index": 0, "message": .object(message), "logprobs": .null, "finish_reason": finishReason]],
                "system_fingerprint": "fp_mock",
            ]
            if instructions.sendUsage { response["usage"] = usage }
            return jsonResponse(.ok, .object(response))
        }

        func chunk(_ delta: JSONValue, finish: JSONValue = .null) -> JSONValue {
            ["id": .string(id), "object": "chat.completion.chunk", "created": .number(Double(created)), "model": .string(model),
             "system_fingerprint": "fp_mock", "choices": [["index": 0, "delta": delta, "logprobs": .null, "finish_reason": finish]]]
        }
        var events = [ServerSentEvents.event(nil, chunk(["role": "assistant", "content": ""]))]
        if let call = instructions.toolCall {
            events.append(ServerSentEvents.event(nil, chunk(["tool_calls": [[
                "index": 0, "id": .string("call_\(MockIDs.random())"), "type": "function",
                "function": ["name": .string(call.name), "arguments": ""]]]])))
            events.append(ServerSentEvents.event(nil, chunk(["tool_calls": [["index": 0, "function": ["arguments": .string(call.arguments)]]]])))
        } else {
            for (index, word) in words.enumerated() {
                events.append(ServerSentEvents.event(nil, chunk(["content": .string(index == 0 ? word : " " + word)])))
            }
        }
        events.append(ServerSentEvents.event(nil, chunk([:], finish: finishReason)))
        let includeUsage = body["stream_options"]?["include_usage"] == .bool(true)
        if includeUsage, instructions.sendUsage {
            events.append(ServerSentEvents.event(nil, [
                "id": .string(id), "object": "chat.completion.chunk", "created": .number(Double(created)),
                "model": .string(model), "choices": [], "usage": usage,
            ]))
        }
        events.append(ServerSentEvents.event(nil, raw: "[DONE]"))
        return MockStream(events: events, delay: .milliseconds(instructions.latencyMilliseconds), cutAfter: instructions.cutAfterChunks).response()
    }
}

enum MockIDs {
    static func random() -> String {
        String(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(24))
    }
}
