import Common
import Foundation
import HTTPTypes
import Hummingbird
import Testing

@Suite struct ErrorRenderingTests {
    let error = RungateError(
        HTTPResponse.Status(code: 402), code: "budget_exceeded", message: "The run's budget of $1.00 is spent.",
        recovery: "Raise the cap or start a new run.", rule: RuleMatch(rule: "budget.run", policy: "default", policyVersion: 3),
        details: ["cap_micros": 1_000_000], headers: [.retryAfter: "60"])

    func decode(_ shape: ErrorShape) throws -> [String: Any] {
        let data = try JSONEncoder().encode(error.body(shape: shape, requestID: "req-1"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test func openAIShape() throws {
        let body = try decode(.openAI)
        let inner = try #require(body["error"] as? [String: Any])
        #expect(inner["type"] as? String == "insufficient_quota")
        #expect(inner["code"] as? String == "budget_exceeded")
        #expect((inner["message"] as? String)?.contains("Raise the cap") == true)
        #expect(inner.keys.contains("param"))
        #expect(body["rungate"] == nil)
        let rungate = try #require(inner["rungate"] as? [String: Any])
        #expect((rungate["rule"] as? [String: Any])?["policy_version"] as? Int == 3)
        #expect(rungate["cap_micros"] as? Int == 1_000_000)
        #expect(rungate["request_id"] as? String == "req-1")
    }

    @Test func anthropicShape() throws {
        let body = try decode(.anthropic)
        #expect(body["type"] as? String == "error")
        let inner = try #require(body["error"] as? [String: Any])
        #expect(inner["type"] as? String == "billing_error")
        #expect((inner["message"] as? String)?.hasPrefix("The run's budget") == true)
        #expect((body["rungate"] as? [String: Any])?["code"] as? String == "budget_exceeded")
    }

    @Test func adminShape() throws {
        let body = try decode(.admin)
        let inner = try #require(body["error"] as? [String: Any])
        #expect(inner["code"] as? String == "budget_exceeded")
        #expect(inner["message"] as? String == "The run's budget of $1.00 is spent.")
        #expect(inner["recovery"] as? String == "Raise the cap or start a new run.")
        #expect(inner["request_id"] as? String == "req-1")
        #expect((inner["details"] as? [String: Any])?["cap_micros"] as? Int == 1_000_000)
        #expect(body["rungate"] == nil)
    }

    @Test func responseCarriesStatusHeadersAndJSON() {
        let response = error.response(shape: .openAI, requestID: "req-1")
        #expect(response.status.code == 402)
        #expect(response.headers[.retryAfter] == "60")
        #expect(response.headers[.contentType] == "application/json")
        #expect(response.headers[.requestID] == "req-1")
    }

    @Test(arguments: [(401, "authentication_error", "authentication_error"), (429, "rate_limit_error", "rate_limit_error"),
                      (403, "permission_error", "permission_error"), (500, "server_error", "api_error"), (400, "invalid_request_error", "invalid_request_error")])
    func typesFollowTheStatus(status: Int, openAI: String, anthropic: String) throws {
        let error = RungateError(.init(code: status), code: "x", message: "m")
        let openAIBody = try JSONEncoder().encode(error.body(shape: .openAI, requestID: nil))
        let anthropicBody = try JSONEncoder().encode(error.body(shape: .anthropic, requestID: nil))
        #expect(String(decoding: openAIBody, as: UTF8.self).contains("\"type\":\"\(openAI)\""))
        #expect(String(decoding: anthropicBody, as: UTF8.self).contains("\"type\":\"\(anthropic)\""))
    }

    @Test func dataPlaneShapeFollowsThePath() {
        #expect(ErrorShape.dataPlane(path: "/v1/messages") == .anthropic)
        #expect(ErrorShape.dataPlane(path: "/v1/chat/completions") == .openAI)
    }
}
