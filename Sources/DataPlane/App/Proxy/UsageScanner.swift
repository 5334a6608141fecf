import Common
import Foundation
import NIOCore

/// Reads token usage out of provider answers, streamed or not, in each API's own format.
///
/// For streams it also counts the text actually delivered, so a stream that is cut off (or a
/// provider that sends no usage) is still accounted for, by estimate. When Rungate asked for a
/// usage chunk the client did not (`stream_options.include_usage`), `stripUsageChunk` removes it
/// so the client sees exactly the stream it asked for.
struct UsageScanner {
    let endpoint: ProviderEndpoint
    let stripUsageChunk: Bool
    private(set) var usage = TokenUsage()
    private(set) var sawUsage = false
    private(set) var deliveredCharacters = 0
    /// Set to assemble the tool calls a stream proposes (for approval gates).
    var toolCalls: StreamedToolCalls?
    /// Bytes of an event not yet complete.
    private var pending = ByteBuffer()
    private let eventMembers: [String]

    init(endpoint: ProviderEndpoint, stripUsageChunk: Bool) {
        self.endpoint = endpoint
        self.stripUsageChunk = stripUsageChunk
        self.eventMembers = Self.eventMembers(of: endpoint)
    }

    // MARK: Asking for usage

    /// `body` (a JSON object without `stream_options`) with `"stream_options":{"include_usage":true}`
    /// as its first member, the rest of its bytes unchanged; nil when it does not start with `{`.
    static func requestingUsage(in body: ByteBuffer) -> ByteBuffer? {
        let bytes = body.readableBytesView
        let isSpace = { (byte: UInt8) in byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D }
        guard let open = bytes.firstIndex(where: { !isSpace($0) }), bytes[open] == UInt8(ascii: "{") else { return nil }
        let afterOpen = bytes.index(after: open)
        let isEmpty = bytes[afterOpen...].first(where: { !isSpace($0) }) == UInt8(ascii: "}")
        var spliced = ByteBuffer()
        spliced.reserveCapacity(body.readableBytes + 48)
        spliced.writeBytes(bytes[..<afterOpen])
        spliced.writeString(isEmpty ? #""stream_options":{"include_usage":true}"# : #""stream_options":{"include_usage":true},"#)
        spliced.writeBytes(bytes[afterOpen...])
        return spliced
    }

    // MARK: Non-streaming

    /// Usage from a complete JSON answer.
    mutating func scan(body: ByteBuffer) {
        // Only `usage` is read, its counts without building it: the rest of the answer (its content
        // above all) is stepped over. (Built as a `JSONValue` and looked up by name, the usage
        // object cost ~8 K instructions a call: bench/RESULTS.md, session 35.)
        let usage = JSONReader.read(body.readableBytesView) { reader throws(JSONParseError) -> ReportedUsage? in
            var usage: ReportedUsage?
            try reader.members { key, value throws(JSONParseError) in
                if key == "usage" { usage = try ReportedUsage.read(&value) }
            }
            return usage
        }
        if let usage = usage.flatMap({ $0 }) { apply(usage) }
    }

    // MARK: Streaming

    /// Feeds stream bytes; returns what to forward to the client now.
    mutating func feed(_ chunk: ByteBuffer) -> ByteBuffer {
        pending.writeImmutableBuffer(chunk)
        var forward = ByteBuffer()
        // Events end with a blank line. Only complete events are inspected; without stripping,
        // bytes are forwarded as they arrive and inspected on the side.
        while let end = Self.eventEnd(in: pending) {
            let event = pending.readSlice(length: end)!
            if !inspect(event) || !stripUsageChunk { forward.writeImmutableBuffer(event) }
        }
        if !stripUsageChunk {
            return chunk
        }
        return forward
    }

    /// Whatever remains at the end of a stream (an unterminated last event).
    mutating func finish() -> ByteBuffer {
        defer { pending.clear() }
        if pending.readableBytes > 0 { _ = inspect(pending) }
        return stripUsageChunk ? pending : ByteBuffer()
    }

    /// The usage to charge: reported when the provider sent it, else estimated from what was sent and delivered.
    func finalUsage(requestBytes: Int) -> TokenUsage {
        if sawUsage { return usage }
        return TokenUsage(input: max(1, requestBytes / 4), output: (deliveredCharacters + 3) / 4, estimated: true)
    }

    /// The members of an event that this scanner and `StreamedToolCalls` read: the others (`id`,
    /// `model`, `created`, ...) are stepped over unbuilt. (Chat completions are walked instead:
    /// `inspectChatCompletion`.)
    private static func eventMembers(of endpoint: ProviderEndpoint) -> [String] {
        switch endpoint {
        case .responses: ["type", "delta", "response", "item", "output_index"]
        case .messages: ["type", "message", "usage", "delta", "index", "content_block"]
        case .chatCompletions, .embeddings: []
        }
    }

    /// Inspects one event; true when it is a usage-only chunk Rungate added.
    private mutating func inspect(_ event: ByteBuffer) -> Bool {
        let data = Self.data(of: event)
        guard !data.isEmpty, !data.elementsEqual("[DONE]".utf8) else { return false }
        if endpoint == .chatCompletions { return inspectChatCompletion(data) }
        guard let members = JSONParser.members(named: eventMembers, of: data) else { return false }
        let json = JSONValue.object(members)
        toolCalls?.feed(json, endpoint: endpoint)
        switch endpoint {
        case .chatCompletions:
            break
        case .responses:
            let type = json["type"]?.stringValue ?? ""
            if type.hasSuffix(".delta") { deliveredCharacters += json["delta"]?.stringValue?.count ?? 0 }
            if let usage = json["response"]?["usage"].flatMap(ReportedUsage.init) { apply(usage) }
        case .messages:
            switch json["type"]?.stringValue {
            case "message_start": if let usage = json["message"]?["usage"].flatMap(ReportedUsage.init) { apply(usage) }
            case "message_delta": if let usage = json["usage"].flatMap(ReportedUsage.init) { apply(usage) }
            case "content_block_delta":
                deliveredCharacters += (json["delta"]?["text"]?.stringValue ?? json["delta"]?["partial_json"]?.stringValue ?? "").count
            default: break
            }
        case .embeddings:
            break
        }
        return false
    }

    /// A chat completion event — the most common kind, one per token — walked for what is used: each
    /// choice's delta text and tool calls, and the usage. Nothing else is built (building the whole
    /// event, its choice and delta objects included, cost ~15 K instructions an event). An event
    /// whose `choices` is not an array, or that is malformed, is left unread, as before.
    private mutating func inspectChatCompletion(_ data: [UInt8]) -> Bool {
        struct Event {
            var choices: Int?
            var characters = 0
            var toolCalls: [(choice: Int, calls: [JSONValue])] = []
            var usage: ReportedUsage?
        }
        let read = JSONReader.read(data) { reader throws(JSONParseError) -> Event in
            var event = Event()
            try reader.members { key, value throws(JSONParseError) in
                switch key {
                case "choices":
                    var count = 0
                    let isArray = try value.elements { choice throws(JSONParseError) in
                        var index: Int?
                        var calls: [JSONValue]?
                        try choice.members { key, value throws(JSONParseError) in
                            switch key {
                            case "index": index = try value.value().intValue
                            case "delta":
                                try value.members { key, value throws(JSONParseError) in
                                    switch key {
                                    case "content": event.characters += try value.string()?.count ?? 0
                                    case "tool_calls": if case .array(let list) = try value.value() { calls = list }
                                    default: break
                                    }
                                }
                            default: break
                            }
                        }
                        if let calls {
                            event.characters += calls.reduce(0) { $0 + ($1["function"]?["arguments"]?.stringValue?.count ?? 0) }
                            event.toolCalls.append((index ?? count, calls))
                        }
                        count += 1
                    }
                    event.choices = isArray ? count : nil
                case "usage":
                    event.usage = try ReportedUsage.read(&value)
                default:
                    break
                }
            }
            return event
        }
        guard let read, let choices = read.choices else { return false }
        deliveredCharacters += read.characters
        for (choice, calls) in read.toolCalls { toolCalls?.feed(chatToolCalls: calls, choice: choice) }
        guard let usage = read.usage else { return false }
        apply(usage)
        return choices == 0
    }

    /// Maps each API's usage object onto `TokenUsage` (cached input counted inside input).
    private mutating func apply(_ reported: ReportedUsage) {
        switch endpoint {
        case .chatCompletions, .embeddings:
            if let input = reported.promptTokens { usage.input = input; sawUsage = true }
            if let output = reported.completionTokens { usage.output = output }
            usage.cachedInput = reported.promptCachedTokens ?? usage.cachedInput
        case .responses:
            if let input = reported.inputTokens { usage.input = input; sawUsage = true }
            if let output = reported.outputTokens { usage.output = output }
            usage.cachedInput = reported.inputCachedTokens ?? usage.cachedInput
        case .messages:
            // Anthropic reports cache reads and writes beside input_tokens, not inside it.
            if let input = reported.inputTokens {
                let read = reported.cacheReadInputTokens ?? 0
                let written = reported.cacheCreationInputTokens ?? 0
                if input + read + written > 0 || !sawUsage {
                    usage.input = input + read + written
                    usage.cachedInput = read
                }
                sawUsage = true
            }
            if let output = reported.outputTokens { usage.output = max(usage.output, output) }
        }
    }

    /// The event's `data:` lines, joined (each without the field name and the spaces after it).
    /// Read as bytes: splitting the event as a String walked it character by character.
    private static func data(of event: ByteBuffer) -> [UInt8] {
        var data: [UInt8] = []
        event.withUnsafeReadableBytes { bytes in
            var start = 0
            while start < bytes.count {
                var end = lineFeed(in: bytes, from: start) ?? bytes.count
                let next = end + 1
                if end > start, bytes[end - 1] == 0x0D { end -= 1 }
                // "data:" — then optional spaces, then the value.
                if end - start >= 5, bytes[start] == 0x64, bytes[start + 1] == 0x61, bytes[start + 2] == 0x74,
                   bytes[start + 3] == 0x61, bytes[start + 4] == 0x3A {
                    var value = start + 5
                    while value < end, bytes[value] == 0x20 { value += 1 }
                    data.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[value..<end]))
                }
                start = next
            }
        }
        return data
    }

    /// The length of the first complete event (through its blank line), if any.
    private static func eventEnd(in buffer: ByteBuffer) -> Int? {
        buffer.withUnsafeReadableBytes { bytes in
            var previous: Int?
            var from = 0
            while let newline = lineFeed(in: bytes, from: from) {
                // A blank line: nothing but carriage returns since the line feed before it.
                if let previous, bytes[(previous + 1)..<newline].allSatisfy({ $0 == 0x0D }) { return newline + 1 }
                previous = newline
                from = newline + 1
            }
            return nil
        }
    }

    /// The offset of the first line feed at `from` or after, found with libc's vectorised `memchr`:
    /// a byte loop cost ~5 instructions for every byte of a stream, and each byte is looked at twice.
    private static func lineFeed(in bytes: UnsafeRawBufferPointer, from: Int) -> Int? {
        guard from < bytes.count, let base = bytes.baseAddress, let found = memchr(base + from, 0x0A, bytes.count - from) else { return nil }
        return base.distance(to: UnsafeRawPointer(found))
    }
}
