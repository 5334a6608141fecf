import Foundation
import HTTPTypes
import Hummingbird

/// The one error type of every Rungate API. It knows its HTTP status, a stable machine code,
/// what happened, and how the caller can recover; `render` writes it in the shape of the API
/// that answers. Messages never carry secrets or another org's identifiers.
public struct RungateError: Error, Sendable {
    public var status: HTTPResponse.Status
    /// Stable, documented, snake_case: clients may branch on it.
    public var code: String
    /// What happened, in a sentence.
    public var message: String
    /// How to recover, in a sentence; nil when there is nothing the caller can do.
    public var recovery: String?
    /// The governance rule that fired, when one did.
    public var rule: RuleMatch?
    /// Structured context (a budget's scope, cap and spend, an approval's id, ...).
    public var details: [String: JSONValue]
    /// Extra response headers (`Retry-After`, `X-RateLimit-*`, ...).
    public var headers: HTTPFields

    public init(
        _ status: HTTPResponse.Status,
        code: String,
        message: String,
        recovery: String? = nil,
        rule: RuleMatch? = nil,
        details: [String: JSONValue] = [:],
        headers: HTTPFields = [:]
    ) {
        self.status = status
        self.code = code
        self.message = message
        self.recovery = recovery
        self.rule = rule
        self.details = details
        self.headers = headers
    }
}

/// Which rule of which policy version fired, for the `rungate` object of an error.
public struct RuleMatch: Sendable, Hashable, Codable {
    public var rule: String
    public var policy: String?
    public var policyVersion: Int?

    public init(rule: String, policy: String? = nil, policyVersion: Int? = nil) {
        self.rule = rule
        self.policy = policy
        self.policyVersion = policyVersion
    }
}

// MARK: - Common errors

extension RungateError {
    public static func unauthenticated(_ why: String) -> RungateError {
        RungateError(
            .unauthorized, code: "invalid_credentials", message: why,
            recovery: "Send a valid, unrevoked token in `Authorization: Bearer …`; issue a new one if it was lost or revoked.")
    }

    public static func notFound(_ what: String) -> RungateError {
        RungateError(.notFound, code: "not_found", message: "\(what) was not found.",
                     recovery: "Check the id; objects of other organisations are never visible.")
    }

    public static func badRequest(_ why: String, recovery: String? = nil) -> RungateError {
        RungateError(.badRequest, code: "invalid_request", message: why, recovery: recovery)
    }

    public static func internalError(requestID: String) -> RungateError {
        RungateError(
            .internalServerError, code: "internal_error",
            message: "Rungate hit an unexpected error while handling this request.",
            recovery: "Retry; if it persists, report request id \(requestID) to your operator.",
            details: ["request_id": .string(requestID)])
    }

    public static func dependencyUnavailable(_ dependency: String) -> RungateError {
        RungateError(
            .serviceUnavailable, code: "\(dependency)_unavailable",
            message: "Rungate cannot reach its \(["redis": "Redis", "database": "database (PostgreSQL)"][dependency] ?? dependency) right now; nothing was changed.",
            recovery: "Retry in a few seconds. Operators: check /readyz on this process.",
            headers: [.retryAfter: "5"])
    }
}
