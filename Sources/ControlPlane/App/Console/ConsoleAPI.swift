import Common
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// The console's only way to read or change anything: the API's own routes, called in process with
/// the signed-in user's session as a bearer credential. So every page shows and does exactly what
/// the API allows that user — the same route guard (membership, RBAC, org lifecycle), the same
/// validation, the same audit log — and nothing lives twice.
struct ConsoleAPI: Sendable {
    let routes: [APIRoute]
    let guardian: RouteGuard

    /// An API answer: its status and JSON body (an error's body is `{"error": {...}}`).
    struct Answer: Sendable {
        let status: HTTPResponse.Status
        let json: JSONValue
        let headers: HTTPFields

        var ok: Bool { (200..<300).contains(status.code) }
        var errorMessage: String { json["error"]?["message"]?.stringValue ?? "The request failed (\(status.code))." }
    }

    /// Calls `method path` (a concrete `/api/...` path, with its query) as the holder of `session`.
    func call(_ method: HTTPRequest.Method, _ path: String, body: JSONValue? = nil, session: String?,
              context: ControlRequestContext) async -> Answer {
        let pathOnly = String(path.prefix { $0 != "?" })
        guard let (route, parameters) = Self.match(method, pathOnly, in: routes) else {
            return Answer(status: .notFound, json: ["error": ["message": "No such API route."]], headers: [:])
        }
        var head = HTTPRequest(method: method, scheme: "http", authority: "console", path: path)
        if let session { head.headerFields[.authorization] = "Bearer \(session)" }
        head.headerFields[.contentType] = "application/json"
        let bytes = body.map { (try? JSONEncoder().encode($0)) ?? Data() } ?? Data()
        let request = Request(head: head, body: RequestBody(buffer: ByteBuffer(bytes: bytes)))
        var apiContext = context
        apiContext.coreContext.parameters = Parameters(parameters)
        apiContext.identity = nil
        apiContext.org = nil
        do {
            try await guardian.admit(route, request: request, context: &apiContext)
            let response = try await route.handler(request, apiContext)
            let collected = Collected()
            try await response.body.write(CollectingWriter(into: collected))
            let buffer = collected.buffer.withLock { $0 }
            let json = buffer.readableBytes == 0 ? JSONValue.null : (JSONValue.parse(String(buffer: buffer)) ?? .null)
            return Answer(status: response.status, json: json, headers: response.headers)
        } catch let error as RungateError {
            return Answer(status: error.status, json: ["error": ["code": .string(error.code), "message": .string(error.message)]], headers: error.headers)
        } catch {
            return Answer(status: .internalServerError, json: ["error": ["message": "Something went wrong; try again."]], headers: [:])
        }
    }

    /// The route `method path` resolves to, and its path parameters.
    static func match(_ method: HTTPRequest.Method, _ path: String, in routes: [APIRoute]) -> (APIRoute, [(key: Substring, value: Substring)])? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        for route in routes where route.method == method {
            let template = route.path.split(separator: "/", omittingEmptySubsequences: false)
            guard template.count == segments.count else { continue }
            var parameters: [(key: Substring, value: Substring)] = []
            var matched = true
            for (part, segment) in zip(template, segments) {
                if part.hasPrefix("{"), part.hasSuffix("}"), !segment.isEmpty {
                    parameters.append((part.dropFirst().dropLast(), segment))
                } else if part != segment {
                    matched = false
                    break
                }
            }
            if matched { return (route, parameters) }
        }
        return nil
    }
}

/// A response body, collected from a handler in process.
final class Collected: Sendable {
    let buffer = Mutex(ByteBuffer())
}

struct CollectingWriter: ResponseBodyWriter {
    let into: Collected

    mutating func write(_ buffer: ByteBuffer) async throws {
        _ = into.buffer.withLock { $0.writeImmutableBuffer(buffer) }
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
}
