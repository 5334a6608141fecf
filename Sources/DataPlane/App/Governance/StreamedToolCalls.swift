import Common

/// Assembles the tool calls a streamed answer proposes, event by event, in each API's own format:
/// OpenAI chat `delta.tool_calls` fragments (name once, arguments in pieces, keyed by index),
/// Responses `response.output_item.done` function calls, Anthropic `tool_use` blocks whose input
/// arrives as `input_json_delta` pieces. Approval gates match what this assembles. It is fed what
/// `UsageScanner` reads of each event: for Responses and Anthropic events, the members its
/// `eventMembers` names; for chat completions, each choice's tool calls.
struct StreamedToolCalls: Sendable {
    private struct Partial: Sendable {
        var name = ""
        var arguments = ""
        var initialInput: JSONValue?
    }

    /// Calls in the order they started, keyed by their position in the stream.
    private var partials: [String: Partial] = [:]
    private var order: [String] = []

    private mutating func update(_ key: String, _ change: (inout Partial) -> Void) {
        if partials[key] == nil { order.append(key) }
        change(&partials[key, default: Partial()])
    }

    /// The `delta.tool_calls` of one choice (`choice`: its `index`, or its position) of an OpenAI chat
    /// completion event.
    mutating func feed(chatToolCalls calls: [JSONValue], choice: Int) {
        for (offset, call) in calls.enumerated() {
            update("\(choice).\(call["index"]?.intValue ?? offset)") { partial in
                if let name = call["function"]?["name"]?.stringValue { partial.name += name }
                partial.arguments += call["function"]?["arguments"]?.stringValue ?? ""
            }
        }
    }

    /// A Responses or Anthropic event (chat completions come a choice at a time: `feed(chatToolCalls:choice:)`).
    mutating func feed(_ event: JSONValue, endpoint: ProviderEndpoint) {
        switch endpoint {
        case .chatCompletions:
            return
        case .responses:
            guard event["type"] == "response.output_item.done", let item = event["item"], item["type"] == "function_call",
                  let name = item["name"]?.stringValue else { return }
            update("\(event["output_index"]?.intValue ?? order.count)") { partial in
                partial.name = name
                partial.arguments = item["arguments"]?.stringValue ?? ""
            }
        case .messages:
            let index = "\(event["index"]?.intValue ?? 0)"
            switch event["type"]?.stringValue {
            case "content_block_start":
                guard let block = event["content_block"], block["type"] == "tool_use", let name = block["name"]?.stringValue else { return }
                update(index) { partial in
                    partial.name = name
                    partial.initialInput = block["input"]
                }
            case "content_block_delta":
                guard partials[index] != nil, event["delta"]?["type"] == "input_json_delta" else { return }
                update(index) { $0.arguments += event["delta"]?["partial_json"]?.stringValue ?? "" }
            default:
                return
            }
        case .embeddings:
            return
        }
    }

    /// The calls assembled so far (arguments that do not parse count as an empty object).
    var calls: [ProposedToolCall] {
        order.compactMap { key in
            guard let partial = partials[key], !partial.name.isEmpty else { return nil }
            let arguments = partial.arguments.isEmpty ? partial.initialInput : JSONValue.parse(partial.arguments)
            return ProposedToolCall(name: partial.name, arguments: arguments ?? .object([:]))
        }
    }
}
