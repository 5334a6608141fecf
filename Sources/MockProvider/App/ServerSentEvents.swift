import Common
import Foundation
import Hummingbird
import NIOCore

/// Formats Server-Sent Events the way OpenAI (`data:` only) and Anthropic (`event:` + `data:`) send them.
enum ServerSentEvents {
    static func event(_ name: String?, _ data: JSONValue) -> ByteBuffer {
        let json = String(decoding: JSONSerializer.bytes(data), as: UTF8.self)
        return event(name, raw: json)
    }

    static func event(_ name: String?, raw: String) -> ByteBuffer {
        var text = ""
        if let name { text += "event: \(name)\n" }
        text += "data: \(raw)\n\n"
        return ByteBuffer(string: text)
    }

    static let headers: HTTPFields = [
        .contentType: "text/event-stream; charset=utf-8",
        .cacheControl: "no-cache",
    ]
}

/// A streamed answer: events with pauses, optionally cut off before the end.
struct MockStream: Sendable {
    var events: [ByteBuffer]
    var delay: Duration
    var cutAfter: Int?

    func response(headers: HTTPFields = ServerSentEvents.headers) -> Response {
        let events = self.events
        let delay = self.delay
        let cutAfter = self.cutAfter
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            for (index, event) in events.enumerated() {
                if let cutAfter, index >= cutAfter {
                    // Simulates a provider dropping the connection mid-stream.
                    throw MockStreamCut()
                }
                if index > 0, delay > .zero { try await Task.sleep(for: delay) }
                try await writer.write(event)
            }
            try await writer.finish(nil)
        })
    }
}

struct MockStreamCut: Error {}
