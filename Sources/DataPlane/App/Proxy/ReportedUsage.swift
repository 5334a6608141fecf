import Common

/// The counts a provider's usage object reports, under each API's names (chat completions:
/// `prompt_tokens`, …; Responses and Anthropic: `input_tokens`, …): integers only, as `JSONValue.intValue`
/// reads them; a member that is not one is left out. Read from the answer's bytes without building the
/// object (`read(_:)`), or from an event's usage already built (`init(_:)`), by the same names.
struct ReportedUsage: Equatable {
    var promptTokens: Int?
    var completionTokens: Int?
    var inputTokens: Int?
    var outputTokens: Int?
    /// `prompt_tokens_details.cached_tokens` (chat completions).
    var promptCachedTokens: Int?
    /// `input_tokens_details.cached_tokens` (Responses).
    var inputCachedTokens: Int?
    var cacheReadInputTokens: Int?
    var cacheCreationInputTokens: Int?

    /// The usage object at `reader`; nil (the value stepped over) when it is not an object — `null`
    /// before a stream's last event.
    static func read(_ reader: inout JSONReader) throws(JSONParseError) -> ReportedUsage? {
        var usage = ReportedUsage()
        let isObject = try reader.members { key, value throws(JSONParseError) in
            switch key {
            case "prompt_tokens_details", "input_tokens_details":
                try value.members { detail, value throws(JSONParseError) in
                    if detail == "cached_tokens" { usage.set(key, try value.value()) }
                }
            case "prompt_tokens", "completion_tokens", "input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens":
                usage.set(key, try value.value())
            default:
                break
            }
        }
        return isObject ? usage : nil
    }

    /// A usage object already built; nil when it is not an object.
    init?(_ usage: JSONValue) {
        guard case .object(let members) = usage else { return nil }
        for (key, value) in members {
            switch key {
            case "prompt_tokens_details", "input_tokens_details":
                if let cached = value["cached_tokens"] { set(key, cached) }
            default:
                set(key, value)
            }
        }
    }

    init() {}

    /// A member by its name in the usage object (`…_details`: its `cached_tokens`).
    private mutating func set(_ key: String, _ value: JSONValue) {
        guard let count = value.intValue else { return }
        switch key {
        case "prompt_tokens": promptTokens = count
        case "completion_tokens": completionTokens = count
        case "input_tokens": inputTokens = count
        case "output_tokens": outputTokens = count
        case "prompt_tokens_details": promptCachedTokens = count
        case "input_tokens_details": inputCachedTokens = count
        case "cache_read_input_tokens": cacheReadInputTokens = count
        case "cache_creation_input_tokens": cacheCreationInputTokens = count
        default: break
        }
    }
}
