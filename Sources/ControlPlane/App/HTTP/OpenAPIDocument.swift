import Foundation
import Common
import HTTPTypes

/// The OpenAPI 3.1 document of the control plane, generated from the same route declarations the
/// router serves, so the two cannot drift (a test compares them anyway).
public enum OpenAPIDocument {
    /// Routes every process serves outside `/api`, documented alongside.
    static let operational: [(HTTPRequest.Method, String, String)] = [
        (.get, "/healthz", "Liveness: the process is up"),
        (.get, "/readyz", "Readiness: PostgreSQL and Redis answer"),
        (.get, "/metrics", "Prometheus metrics"),
    ]

    /// Pages for people without a session: deciding an approval request from a signed link.
    static let pages: [(HTTPRequest.Method, String, String)] = [
        (.get, "/approval-links/{token}", "Show the approval request a signed link decides, with a confirm button (opening decides nothing)"),
        (.post, "/approval-links/{token}", "Decide the request as the person the signed link was issued to (form field `reason`)"),
    ]

    public static func build(_ routes: [APIRoute]) -> JSONValue {
        var paths: [String: [String: JSONValue]] = [:]
        for route in routes {
            paths[route.path, default: [:]][route.method.rawValue.lowercased()] = operation(route)
        }
        for (method, path, summary) in pages {
            var operation: [String: JSONValue] = [
                "operationId": .string(operationID(method, path)), "summary": .string(summary), "security": [],
                "parameters": [["name": "token", "in": "path", "required": true, "schema": ["type": "string"]]],
                "responses": [
                    "200": ["description": "An HTML page", "content": ["text/html": ["schema": ["type": "string"]]]],
                    "404": ["description": "The link is invalid, expired, or its approver may no longer decide"],
                    "409": ["description": "The request is already decided or expired"],
                ],
            ]
            if method == .post {
                operation["requestBody"] = ["content": ["application/x-www-form-urlencoded": ["schema": Schema.object(["reason": Schema.string])]]]
            }
            paths[path, default: [:]][method.rawValue.lowercased()] = .object(operation)
        }
        for (method, path, summary) in operational {
            paths[path, default: [:]][method.rawValue.lowercased()] = [
                "operationId": .string(operationID(method, path)), "summary": .string(summary), "security": [],
                "responses": ["200": ["description": "OK"], "503": ["description": "Not ready"]],
            ]
        }
        return [
            "openapi": "3.1.0",
            "info": [
                "title": "Rungate control plane API", "version": "1",
                "description": """
                    Org-facing API. Authenticate with a session (cookie `rungate_session`, or `Authorization: Bearer rg_ses_…` from \
                    POST /api/auth/login) or an admin token (`Authorization: Bearer rg_adm_…`). Cookie-authenticated writes must send \
                    `X-Requested-With`. Every org endpoint declares one RBAC action (`x-rungate-action`); objects of other orgs answer 404.
                    """,
            ],
            "paths": .object(paths.mapValues { .object($0) }),
            "components": [
                "securitySchemes": [
                    "session": ["type": "apiKey", "in": "cookie", "name": .string(SessionCookie.name)],
                    "bearer": ["type": "http", "scheme": "bearer", "description": "A session token (rg_ses_) or an admin token (rg_adm_)."],
                ],
                "schemas": [
                    "Error": [
                        "type": "object", "required": ["error"],
                        "properties": [
                            "error": [
                                "type": "object", "required": ["code", "message"],
                                "properties": [
                                    "code": ["type": "string"], "message": ["type": "string"], "recovery": ["type": "string"],
                                    "request_id": ["type": "string"], "details": ["type": "object"],
                                ],
                            ],
                        ],
                    ],
                ],
            ],
        ]
    }

    static func operation(_ route: APIRoute) -> JSONValue {
        var operation: [String: JSONValue] = [
            "operationId": .string(operationID(route.method, route.path)),
            "summary": .string(route.summary),
            "tags": [.string(tag(route.path))],
        ]
        var responses: [String: JSONValue] = [
            String(route.successStatus.code): ["description": .string(route.successStatus.reasonPhrase.isEmpty ? "Success" : route.successStatus.reasonPhrase)],
            "400": errorResponse("The request is malformed"),
        ]
        switch route.access {
        case .anonymous:
            operation["security"] = []
        case .user:
            operation["security"] = [["session": []], ["bearer": []]]
            responses["401"] = errorResponse("No valid credential")
            responses["403"] = errorResponse("Refused for this credential")
        case .org(let action):
            operation["security"] = [["session": []], ["bearer": []]]
            operation["x-rungate-action"] = .string(action.rawValue)
            operation["x-rungate-minimum-role"] = .string(action.minimumRole.rawValue)
            responses["401"] = errorResponse("No valid credential")
            responses["403"] = errorResponse("The caller's role or token scopes do not allow \(action.rawValue)")
            responses["404"] = errorResponse("No such org or object visible to the caller")
            if !action.isRead { responses["409"] = errorResponse("The org's or object's state does not allow this") }
        }
        for (status, description) in route.errors { responses[String(status.code)] = errorResponse(description) }
        if !route.pathParameters.isEmpty {
            operation["parameters"] = .array(route.pathParameters.map {
                ["name": .string($0), "in": "path", "required": true,
                 "schema": $0 == "version" ? ["type": "integer", "minimum": 1] : ["type": "string", "format": "uuid"]]
            })
        }
        if let body = route.requestBody {
            operation["requestBody"] = ["required": true, "content": ["application/json": ["schema": body]]]
            responses["413"] = errorResponse("The body is too large")
            responses["422"] = errorResponse("A field's value is not acceptable")
        }
        operation["responses"] = .object(responses)
        return .object(operation)
    }

    static func errorResponse(_ description: String) -> JSONValue {
        ["description": .string(description), "content": ["application/json": ["schema": ["$ref": "#/components/schemas/Error"]]]]
    }

    static func operationID(_ method: HTTPRequest.Method, _ path: String) -> String {
        let words = path.split(separator: "/").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "{}")).replacingOccurrences(of: "-", with: "_") }
        return ([method.rawValue.lowercased()] + words).joined(separator: "_")
    }

    static func tag(_ path: String) -> String {
        let parts = path.split(separator: "/")
        if parts.count >= 4, parts[1] == "orgs" { return String(parts[3]) }
        return parts.count >= 2 ? String(parts[1]) : "api"
    }
}
