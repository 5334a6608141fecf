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
            guard let count = count(named: key) else { return }  // stepped over, not built
            if count.isDetails {
                try value.members { detail, value throws(JSONParseError) in
                    if detail == "cached_tokens" { usage.set(count, try value.value()) }
                }
            } else {
                usage.set(count, try value.value())
            }
        }
        return isObject ? usage : nil
    }

    /// A usage object already built; nil when it is not an object.
    init?(_ usage: JSONValue) {
        guard case .object(let members) = usage else { return nil }
        for (key, value) in members {
            guard let count = Self.count(named: key) else { continue }
            if count.isDetails {
                if let cached = value["cached_tokens"] { set(count, cached) }
            } else {
                set(count, value)
            }
        }
    }

    init() {}

    /// A count the usage object reports.
    private enum Count {
        case prompt, completion, input, output, promptCached, inputCached, cacheRead, cacheCreation

        /// Reported as the `cached_tokens` of a `…_details` object.
        var isDetails: Bool { self == .promptCached || self == .inputCached }
    }

    /// The count the usage object's member `key` reports; nil for the members not read (`total_tokens`, …).
    private static func count(named key: String) -> Count? {
        switch key {
        case "prompt_tokens": .prompt
        case "completion_tokens": .completion
        case "input_tokens": .input
        case "output_tokens": .output
        case "prompt_tokens_details": .promptCached
        case "input_tokens_details": .inputCached
        case "cache_read_input_tokens": .cacheRead
        case "cache_creation_input_tokens": .cacheCreation
        default: nil
        }
    }

    /// Sets a count when `value` is an integer (a repeated member keeps its last integer).
    private mutating func set(_ count: Count, _ value: JSONValue) {
        guard let number = value.intValue else { return }
        switch count {
        case .prompt: promptTokens = number
        case .completion: completionTokens = number
        case .input: inputTokens = number
        case .output: outputTokens = number
        case .promptCached: promptCachedTokens = number
        case .inputCached: inputCachedTokens = number
        case .cacheRead: cacheReadInputTokens = number
        case .cacheCreation: cacheCreationInputTokens = number
        }
    }
}
