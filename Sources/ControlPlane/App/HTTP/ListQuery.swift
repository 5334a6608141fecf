import Common
import Foundation
import Hummingbird

/// Query-string filters of list endpoints, each refused with a 400 that names it when malformed.
struct ListQuery {
    let parameters: [String: String]

    init(_ request: Request) {
        var parameters: [String: String] = [:]
        // NUL and other control characters never belong in a filter; such a value is ignored.
        for (key, value) in request.uri.queryParameters where !value.isEmpty && !value.contains(where: { $0.asciiValue.map { $0 < 0x20 } ?? false }) {
            parameters[String(key)] = String(value)
        }
        self.parameters = parameters
    }

    static let badCursor = RungateError.badRequest("`cursor` is not a cursor this API returned.",
                                                   recovery: "Pass `next_cursor` from the previous page unchanged.")

    func text(_ name: String) -> String? { parameters[name] }

    func uuid(_ name: String) throws -> UUID? {
        guard let value = parameters[name] else { return nil }
        guard let id = UUID(canonical: value) else { throw RungateError.badRequest("`\(name)` must be an id.") }
        return id
    }

    func integer(_ name: String) throws -> Int? {
        guard let value = parameters[name] else { return nil }
        guard let number = Int(value) else { throw RungateError.badRequest("`\(name)` must be an integer.") }
        return number
    }

    func date(_ name: String) throws -> Date? {
        guard let value = parameters[name] else { return nil }
        guard let date = ISO8601DateFormatter().date(from: value) else {
            throw RungateError.badRequest("`\(name)` must be an ISO-8601 time such as 2026-01-31T12:00:00Z.")
        }
        return date
    }

    /// `limit`, 1 to 200 (default 50).
    func limit() throws -> Int {
        guard let limit = try integer("limit") else { return 50 }
        guard (1...200).contains(limit) else { throw RungateError.badRequest("`limit` must be between 1 and 200.") }
        return limit
    }

    /// The decoded opaque cursor.
    func cursor() throws -> String? {
        guard let value = parameters["cursor"] else { return nil }
        guard let data = Data(base64Encoded: value), let text = String(data: data, encoding: .utf8) else { throw Self.badCursor }
        return text
    }

    static func encodeCursor(_ text: String) -> String { Data(text.utf8).base64EncodedString() }
}
