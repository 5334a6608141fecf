import Common
import Foundation
import Hummingbird

/// `POST /v1/responses` (OpenAI Responses API), streaming and not.
enum OpenAIResponses {
    static func respond(body: JSONValue, instructions: MockInstructions) -> Response {
        let model = body["model"]?.stringValue ?? "mock-model"
        let id = "resp_\(MockIDs.random())"
        let messageID = "msg_\(MockIDs.random())"
        let created = Double(Int(Date().timeIntervalSince1970))
        let inputTokens = MockInstructions.promptTokens(body)
        let words = instructions.replyWords
        let text = words.joined(separator: " ")
        let outputTokens = instructions.toolCall == nil ? words.count : 12
        let usage: JSONValue = [
            "input_tokens": .number(Double(inputTokens)), "output_tokens": .number(Double(outputTokens)),
            "total_tokens": .number(Double(inputTokens + outputTokens)),
            "input_tokens_details": ["cached_tokens": 0], "output_tokens_details": ["reasoning_tokens": 0],
        ]
        let item: JSONValue
        if let call = instructions.toolCall {
            item = ["type": "function_call", "id": .string("fc_\(MockIDs.random())"), "call_id": .string("call_\(MockIDs.random())"),
                    "name": .string(call.name), "arguments": .string(call.arguments), "status": "completed"]
        } else {
            item = ["type": "message", "id": .string(messageID), "status": "completed", "role": "assistant",
                    "content": [["type": "output_text", "text": .string(text), "annotations": []]]]
        }
        func response(status: String, output: [JSONValue], usage: JSONValue?) -> JSONValue {
            var object: [String: JSONValue] = [
                "id": .string(id), "object": "response", "created_at": .number(created), "status": .string(status),
                "model": .string(model), "output": .array(output), "parallel_tool_calls": true, "tool_choice": "auto",
                "tools": [], "error": .null, "incomplete_details": .null, "instructions": .null, "metadata": [:],
                "temperature": 1, "top_p": 1, "text": ["format": ["type": "text"]],
            ]
            if let usage, instructions.sendUsage { object["usage"] = usage }
            return .object(object)
        }

        guard body["stream"] == .bool(true) else {
            return jsonResponse(.ok, response(status: "completed", output: [item], usage: usage))
        }

        var sequence = 0
        var events: [ByteBuffer] = []
        func emit(_ type: String, _ fields: [String: JSONValue]) {
            var object = fields
            object["type"] = .string(type)
            object["sequence_number"] = .number(Double(sequence))
            sequence += 1
            events.append(ServerSentEvents.event(type, .object(object)))
        }
        emit("response.created", ["response": response(status: "in_progress", output: [], usage: nil)])
        emit("response.in_progress", ["response": response(status: "in_progress", output: [], usage: nil)])
        if instructions.toolCall != nil {
            emit("response.output_item.added", ["output_index": 0, "item": item])
            emit("response.output_item.done", ["output_index": 0, "item": item])
        } else {
            emit("response.output_item.added", ["output_index": 0, "item": [
                "type": "message", "id": .string(messageID), "status": "in_progress", "role": "assistant", "content": []]])
            emit("response.content_part.added", ["item_id": .string(messageID), "output_index": 0, "content_index": 0,
                                                 "part": ["type": "output_text", "text": "", "annotations": []]])
            for (index, word) in words.enumerated() {
                emit("response.output_text.delta", ["item_id": .string(messageID), "output_index": 0, "content_index": 0,
                                                    "delta": .string(index == 0 ? word : " " + word)])
            }
            emit("response.output_text.done", ["item_id": .string(messageID), "output_index": 0, "content_index": 0, "text": .string(text)])
            emit("response.content_part.done", ["item_id": .string(messageID), "output_index": 0, "content_index": 0,
                                                "part": ["type": "output_text", "text": .string(text), "annotations": []]])
            emit("response.output_item.done", ["output_index": 0, "item": item])
        }
        emit("response.completed", ["response": response(status: "completed", output: [item], usage: usage)])
        return MockStream(events: events, delay: .milliseconds(instructions.latencyMilliseconds), cutAfter: instructions.cutAfterChunks).response()
    }
}
