import Common
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MockProvider
import NIOCore
import Testing

/// The mock provider speaks the providers' wire formats closely enough for the real SDKs; these pin
/// the parts the proxy and the tests rely on.
@Suite struct MockProviderTests {
    static func app() -> some ApplicationProtocol { buildMockProvider(configuration: .init(port: 0)) }
    static let auth: HTTPFields = [.authorization: "Bearer sk-test", .contentType: "application/json"]

    func json(_ buffer: ByteBuffer) throws -> JSONValue { try JSONDecoder().decode(JSONValue.self, from: buffer) }

    @Test func chatCompletionWithUsage() async throws {
        try await Self.app().test(.live) { client in
            let body = ByteBuffer(string: #"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello there [[words:5]]"}]}"#)
            try await client.execute(uri: "/v1/chat/completions", method: .post, headers: Self.auth, body: body) { response in
                #expect(response.status == .ok)
                #expect(response.headers[HTTPField.Name("x-mock-key-sha256")!]?.count == 12)
                let answer = try json(response.body)
                #expect(answer["object"] == "chat.completion")
                #expect(answer["model"] == "gpt-4o-mini")
                #expect(answer["usage"]?["completion_tokens"] == 5)
                #expect(answer["choices"]?[0]?["message"]?["content"] == "This is a mock answer")
            }
        }
    }

    @Test func streamingChatSendsChunksUsageAndDone() async throws {
        try await Self.app().test(.live) { client in
            let body = ByteBuffer(string: #"{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"x [[words:3]]"}]}"#)
            try await client.execute(uri: "/v1/chat/completions", method: .post, headers: Self.auth, body: body) { response in
                #expect(response.headers[.contentType]?.hasPrefix("text/event-stream") == true)
                let events = String(buffer: response.body).components(separatedBy: "\n\n").filter { !$0.isEmpty }
                #expect(events.count == 1 + 3 + 1 + 1 + 1)  // role, 3 words, finish, usage, [DONE]
                #expect(events.last == "data: [DONE]")
                #expect(events[events.count - 2].contains("\"completion_tokens\":3"))
            }
        }
    }

    @Test func anthropicStreamFollowsTheEventSequence() async throws {
        try await Self.app().test(.live) { client in
            let body = ByteBuffer(string: #"{"model":"claude","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"x [[words:2]]"}]}"#)
            try await client.execute(uri: "/v1/messages", method: .post, headers: [HTTPField.Name("x-api-key")!: "sk-ant-test"], body: body) { response in
                let names = String(buffer: response.body).split(separator: "\n").filter { $0.hasPrefix("event: ") }.map { $0.dropFirst(7) }
                #expect(names == ["message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta",
                                  "content_block_stop", "message_delta", "message_stop"])
            }
        }
    }

    @Test func toolCallsAreProposedOnRequest() async throws {
        try await Self.app().test(.live) { client in
            let body = ByteBuffer(string: #"{"model":"claude","max_tokens":10,"messages":[{"role":"user","content":"[[tool:delete_file {\"path\":\"/etc\"}]]"}]}"#)
            try await client.execute(uri: "/v1/messages", method: .post, headers: [HTTPField.Name("x-api-key")!: "k"], body: body) { response in
                let answer = try json(response.body)
                #expect(answer["stop_reason"] == "tool_use")
                guard case .array(let content) = answer["content"] else { Issue.record("no content"); return }
                #expect(content.first?["name"] == "delete_file")
                #expect(content.first?["input"]?["path"] == "/etc")
            }
        }
    }

    @Test func embeddingsHonourBase64() async throws {
        try await Self.app().test(.live) { client in
            let body = ByteBuffer(string: #"{"model":"e","input":["a","b"],"encoding_format":"base64"}"#)
            try await client.execute(uri: "/v1/embeddings", method: .post, headers: Self.auth, body: body) { response in
                let answer = try json(response.body)
                guard case .array(let data) = answer["data"] else { Issue.record("no data"); return }
                #expect(data.count == 2)
                let decoded = try #require(data.first?["embedding"]?.stringValue.flatMap { Data(base64Encoded: $0) })
                #expect(decoded.count == 8 * 4)
            }
        }
    }

    @Test func injectedErrorsAndMissingOrLeakedKeys() async throws {
        try await Self.app().test(.live) { client in
            let body = ByteBuffer(string: #"{"model":"m","messages":[]}"#)
            var headers = Self.auth
            headers[HTTPField.Name("x-mock-error")!] = "429"
            try await client.execute(uri: "/v1/chat/completions", method: .post, headers: headers, body: body) { response in
                #expect(response.status == .tooManyRequests)
                #expect(response.headers[.retryAfter] == "1")
            }
            try await client.execute(uri: "/v1/chat/completions", method: .post, body: body) { response in
                #expect(response.status == .unauthorized)
            }
            let leaked = Token.generate(.agent).value
            try await client.execute(uri: "/v1/chat/completions", method: .post, headers: [.authorization: "Bearer \(leaked)"], body: body) { response in
                #expect(response.status == .unauthorized)
                #expect(String(buffer: response.body).contains("rungate_token_leaked"))
            }
        }
    }
}
