import Foundation
import Hummingbird
import NIOCore

/// JSON in and out of the control plane: snake_case keys, ISO-8601 dates, bodies up to 1 MiB.
public enum APIJSON {
    public static let maxBodyBytes = 1 << 20

    public static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    public static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    /// Decodes the request body as `T`, with a 400 that names what is wrong, or 413 when too large.
    public static func decode<T: Decodable>(_ type: T.Type, from request: Request) async throws -> T {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maxBodyBytes)
        } catch {
            throw RungateError(.contentTooLarge, code: "request_too_large",
                               message: "The request body is larger than \(maxBodyBytes) bytes.", recovery: "Send a smaller body.")
        }
        // Postgres text cannot hold NUL; refuse it here with a clear answer rather than deep down.
        if ByteSearch.firstOffset(of: Array(#"\u0000"#.utf8), in: buffer.readableBytesView) != nil {
            throw RungateError.badRequest("The request body contains a NUL character (\\u0000), which no field accepts.")
        }
        if StrictJSON.hasTrailingComma(buffer.readableBytesView) {
            throw RungateError.badRequest("The request body is not valid JSON: a comma stands before a closing } or ].",
                                          recovery: "Remove the trailing comma.")
        }
        do {
            return try decoder.decode(T.self, from: buffer)
        } catch let error as DecodingError {
            throw RungateError.badRequest("The request body is not valid: \(describe(error)).",
                                          recovery: "Send a JSON object as documented in /api/openapi.json.")
        }
    }

    /// A JSON response of `value`.
    public static func response<T: Encodable>(_ status: HTTPResponse.Status = .ok, _ value: T, headers: HTTPFields = [:]) throws -> Response {
        jsonResponse(status, tree(value), headers: headers)
    }

    /// `value` as a JSON tree, keys as the API writes them. Ids are written in lowercase, as every
    /// Rungate API writes them (Foundation would write UUIDs in uppercase).
    public static func tree<T: Encodable>(_ value: T) -> JSONValue {
        guard let data = try? encoder.encode(value), let tree = try? JSONDecoder().decode(JSONValue.self, from: data) else { return .null }
        return lowercasingIDs(tree)
    }

    static func lowercasingIDs(_ value: JSONValue) -> JSONValue {
        switch value {
        case .string(let string) where UUID(canonical: string) != nil: .string(string.lowercased())
        case .array(let array): .array(array.map(lowercasingIDs))
        case .object(let object): .object(object.mapValues(lowercasingIDs))
        default: value
        }
    }

    public static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? "the body" : "`\(keys.joined(separator: "."))`"
        }
        switch error {
        case .keyNotFound(let key, let context):
            let parent = context.codingPath.isEmpty ? "" : " in \(path(context))"
            return "the field `\(key.stringValue.snakeCased)` is missing\(parent)"
        case .typeMismatch(let type, let context): return "\(path(context)) must be of type \(type)"
        case .valueNotFound(let type, let context): return "\(path(context)) must be a \(type), not null"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "it is not valid JSON" : "\(path(context)) is invalid: \(context.debugDescription)"
        @unknown default: return "it does not match the expected shape"
        }
    }
}

/// A list answer: `{"data": [...], "next_cursor": ...}`.
public struct ListResponse<Item: Encodable & Sendable>: Encodable, Sendable {
    public let data: [Item]
    public let nextCursor: String?

    public init(_ data: [Item], nextCursor: String? = nil) {
        self.data = data
        self.nextCursor = nextCursor
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(data, forKey: .data)
        try container.encode(nextCursor, forKey: .nextCursor)  // explicit null: clients test it
    }

    enum CodingKeys: String, CodingKey { case data, nextCursor }
}

extension String {
    var snakeCased: String {
        var result = ""
        for character in self {
            if character.isUppercase {
                result += "_" + character.lowercased()
            } else {
                result.append(character)
            }
        }
        return result
    }
}
