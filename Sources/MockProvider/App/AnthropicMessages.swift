import Common
import Foundation
import Hummingbird

/// `POST /v1/messages` in Anthropic's wire format, streaming and not.
enum AnthropicMessages {
    static func respond(body: JSONValue, instructions: MockInstructions) -> Response {
        let model = body["model"]?.stringValue ?? "mock-model"
        let id = "msg_\(MockIDs.random())"
        let inputTokens = MockInstructions.promptTokens(body)
        let words = instructions.replyWords
        let outputTokens = instructions.toolCall == nil ? words.count : 12
        let toolUse: JSONValue? = instructions.toolCall.map { call in
            let input = (try? JSONDecoder().decode(JSONValue.self, from: Data(call.arguments.utf8))) ?? [:]
            return ["type": "tool_use", "id": .string("toolu_\(MockIDs.random())"), "name": .string(call.name), "input": input]
        }
        let stopReason: JSONValue = toolUse == nil ? "end_turn" : "tool_use"

        guard body["stream"] == .bool(true) else {
            var message: [String: JSONValue] = [
                "id": .string(id), "type": "message", "role": "assistant", "model": .string(model),
                "content": toolUse.map { [$0] } ?? [["type": "text", "text": .string(words.joined(separator: " "))]],
                "stop_reason": stopReason, "stop_sequence": .null,
            ]
            if instructions.sendUsage {
                message["usage"] = ["input_tokens": .number(Double(inputTokens)), "output_tokens": .number(Double(outputTokens)),
                                    "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0]
            }
            return jsonResponse(.ok, .object(message))
        }

        var events: [ByteBuffer] = []
        func emit(_ type: String, _ fields: [String: JSONValue]) {
            var object = fields
            object["type"] = .string(type)
            events.append(ServerSentEvents.event(type, .object(object)))
        }
        emit("message_start", ["message": [
            "id": .string(id), "type": "message", "role": "assistant", "model": .string(model), "content": [],
            "stop_reason": .null, "stop_sequence": .null,
            "usage": ["input_tokens": .number(Double(instructions.sendUsage ? inputTokens : 0)), "output_tokens": 1,
                      "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0],
        ]])
        if let toolUse, let call = instructions.toolCall {
            var start = toolUse
            if case .object(var object) = start { object["input"] = [:]; start = .object(object) }
            emit("content_block_start", ["index": 0, "content_block": start])
            emit("content_block_delta", ["index": 0, "delta": ["type": "input_json_delta", "partial_json": .string(call.arguments)]])
        } else {
            emit("content_block_start", ["index": 0, "content_block": ["type": "text", "text": ""]])
            emit("ping", [:])
            for (index, word) in words.enumerated() {
                emit("content_block_delta", ["index": 0, "delta": ["type": "text_delta", "text": .string(index == 0 ? word : " " + word)]])
            }
        }
        emit("content_block_stop", ["index": 0])
        emit("message_delta", ["delta": ["stop_reason": stopReason, "stop_sequence": .null],
                               "usage": ["output_tokens": .number(Double(instructions.sendUsage ? outputTokens : 0))]])
        emit("message_stop", [:])
        return MockStream(events: events, delay: .milliseconds(instructions.latencyMilliseconds), cutAfter: instructions.cutAfterChunks).response()
    }
}
