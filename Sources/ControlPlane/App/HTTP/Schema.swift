import Common

/// JSON Schema fragments for the OpenAPI document's request bodies.
enum Schema {
    static let string: JSONValue = ["type": "string"]
    static let boolean: JSONValue = ["type": "boolean"]
    static let uuid: JSONValue = ["type": "string", "format": "uuid"]
    static let email: JSONValue = ["type": "string", "format": "email", "maxLength": 254]
    static let password: JSONValue = ["type": "string", "minLength": .number(Double(Passwords.minimumLength))]
    static let role: JSONValue = ["type": "string", "enum": .array(Role.allCases.map { .string($0.rawValue) })]
    static let name: JSONValue = ["type": "string", "minLength": 1, "maxLength": 200]

    static func integer(_ minimum: Int, _ maximum: Int) -> JSONValue {
        ["type": "integer", "minimum": .number(Double(minimum)), "maximum": .number(Double(maximum))]
    }

    static func array(_ items: JSONValue) -> JSONValue { ["type": "array", "items": items] }

    /// `schema` or null (a patch clears the field with null).
    static func nullable(_ schema: JSONValue) -> JSONValue { ["anyOf": [schema, ["type": "null"]]] }

    static let anyObject: JSONValue = ["type": "object"]

    static func object(_ properties: [String: JSONValue], required: [String] = []) -> JSONValue {
        var schema: [String: JSONValue] = ["type": "object", "properties": .object(properties)]
        if !required.isEmpty { schema["required"] = .array(required.map { .string($0) }) }
        return .object(schema)
    }
}
