import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

extension RungateError {
    /// The JSON body for `shape`.
    public func body(shape: ErrorShape, requestID: String?) -> JSONValue {
        switch shape {
        case .openAI:
            // Inside `error`: the OpenAI SDKs expose only that object (as `e.body`), so `e.body["rungate"]`
            // works there just as it does with the Anthropic SDK, which exposes the whole body.
            return [
                "error": [
                    "message": .string(messageWithRecovery),
                    "type": .string(openAIType),
                    "param": .null,
                    "code": .string(code),
                    "rungate": rungateObject(requestID: requestID),
                ],
            ]
        case .anthropic:
            return [
                "type": "error",
                "error": ["type": .string(anthropicType), "message": .string(messageWithRecovery)],
                "rungate": rungateObject(requestID: requestID),
            ]
        case .admin:
            var error: [String: JSONValue] = ["code": .string(code), "message": .string(message)]
            if let recovery { error["recovery"] = .string(recovery) }
            if let requestID { error["request_id"] = .string(requestID) }
            if let rule { error["rule"] = rule.json }
            if !details.isEmpty { error["details"] = .object(details) }
            return ["error": .object(error)]
        }
    }

    /// A complete response in `shape`.
    public func response(shape: ErrorShape, requestID: String?) -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json"
        if let requestID { headers[.requestID] = requestID }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: JSONSerializer.bytes(body(shape: shape, requestID: requestID)))))
    }

    /// SDK error messages show only `message`, so the recovery hint travels inside it too.
    private var messageWithRecovery: String {
        guard let recovery else { return message }
        return "\(message) \(recovery)"
    }

    private func rungateObject(requestID: String?) -> JSONValue {
        var object: [String: JSONValue] = ["code": .string(code), "reason": .string(message)]
        if let recovery { object["recovery"] = .string(recovery) }
        if let rule { object["rule"] = rule.json }
        if let requestID { object["request_id"] = .string(requestID) }
        for (key, value) in details where object[key] == nil { object[key] = value }
        return .object(object)
    }

    private var openAIType: String {
        switch status.code {
        case 401: "authentication_error"
        case 402: "insufficient_quota"
        case 403: "permission_error"
        case 404: "not_found_error"
        case 409: "conflict_error"
        case 429: "rate_limit_error"
        case 500...: "server_error"
        default: "invalid_request_error"
        }
    }

    private var anthropicType: String {
        switch status.code {
        case 401: "authentication_error"
        case 402: "billing_error"
        case 403: "permission_error"
        case 404: "not_found_error"
        case 413: "request_too_large"
        case 429: "rate_limit_error"
        case 503, 529: "overloaded_error"
        case 500...: "api_error"
        default: "invalid_request_error"
        }
    }
}

extension RuleMatch {
    public var json: JSONValue {
        var object: [String: JSONValue] = ["rule": .string(rule)]
        if let policy { object["policy"] = .string(policy) }
        if let policyVersion { object["policy_version"] = .number(Double(policyVersion)) }
        return .object(object)
    }
}

extension HTTPField.Name {
    public static let requestID = HTTPField.Name("x-request-id")!
    public static let rungateRequestID = HTTPField.Name("x-rungate-request-id")!
}

extension JSONEncoder {
    /// Deterministic output: sorted keys, no escaped slashes.
    public static let sortedKeys: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
}
