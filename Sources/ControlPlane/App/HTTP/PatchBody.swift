import Common
import Foundation
import Hummingbird

/// A JSON merge-patch body (RFC 7396 style): an absent key leaves a field alone, `null` clears it.
struct PatchBody {
    enum Field<Value: Sendable>: Sendable {
        case absent
        case null
        case value(Value)

        /// The new value, `current` when absent, nil when cleared.
        func applied(to current: Value?) -> Value? {
            switch self {
            case .absent: current
            case .null: nil
            case .value(let value): value
            }
        }
    }

    let object: [String: JSONValue]

    static func decode(from request: Request, allowed: Set<String>) async throws -> PatchBody {
        guard case .object(let object) = try await APIJSON.decode(JSONValue.self, from: request) else {
            throw RungateError.badRequest("The request body must be a JSON object.")
        }
        if let unknown = object.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw RungateError(.unprocessableContent, code: "unknown_field", message: "`\(unknown)` cannot be changed here.",
                               recovery: "Fields that can: \(allowed.sorted().joined(separator: ", ")).")
        }
        return PatchBody(object: object)
    }

    func string(_ key: String) throws -> Field<String> {
        switch object[key] {
        case nil: return .absent
        case .null?: return .null
        case .string(let value)?: return .value(value)
        default: throw Self.wrongType(key, "a string")
        }
    }

    func bool(_ key: String) throws -> Field<Bool> {
        switch object[key] {
        case nil: return .absent
        case .null?: return .null
        case .bool(let value)?: return .value(value)
        default: throw Self.wrongType(key, "true or false")
        }
    }

    func integer(_ key: String) throws -> Field<Int> {
        switch object[key] {
        case nil: return .absent
        case .null?: return .null
        case .number(let value)? where value == value.rounded() && abs(value) < 1e15: return .value(Int(value))
        default: throw Self.wrongType(key, "an integer")
        }
    }

    func uuid(_ key: String) throws -> Field<UUID> {
        switch try string(key) {
        case .absent: return .absent
        case .null: return .null
        case .value(let text):
            guard let id = UUID(canonical: text) else { throw Self.wrongType(key, "an id") }
            return .value(id)
        }
    }

    func strings(_ key: String) throws -> Field<[String]> {
        switch object[key] {
        case nil: return .absent
        case .null?: return .null
        case .array(let values)?:
            let strings = values.compactMap(\.stringValue)
            guard strings.count == values.count else { throw Self.wrongType(key, "an array of strings") }
            return .value(strings)
        default: throw Self.wrongType(key, "an array of strings")
        }
    }

    static func wrongType(_ key: String, _ expected: String) -> RungateError {
        RungateError.badRequest("`\(key)` must be \(expected) (or null to clear it, where it is optional).")
    }
}

extension RungateError {
    /// 422 for a value that parses but is not acceptable.
    static func invalidField(_ field: String, _ why: String, recovery: String? = nil) -> RungateError {
        RungateError(.unprocessableContent, code: "invalid_\(field)", message: "`\(field)` \(why).", recovery: recovery,
                     details: ["field": .string(field)])
    }
}
