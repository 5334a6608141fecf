import Common
import Foundation
import Hummingbird

/// `POST /v1/embeddings`. Honours `encoding_format: base64`, which the OpenAI SDK asks for by default.
enum OpenAIEmbeddings {
    static let dimensions = 8

    static func respond(body: JSONValue) -> Response {
        let inputs: [String]
        switch body["input"] {
        case .string(let text): inputs = [text]
        case .array(let items): inputs = items.map { $0.stringValue ?? "tokens" }
        default: inputs = [""]
        }
        let base64 = body["encoding_format"]?.stringValue == "base64"
        let data: [JSONValue] = inputs.enumerated().map { index, text in
            // Deterministic vector derived from the text, so equal inputs embed equally.
            let seed = text.utf8.reduce(UInt32(2_166_136_261)) { ($0 ^ UInt32($1)) &* 16_777_619 }
            let vector = (0..<dimensions).map { Float((seed >> UInt32($0 * 3)) & 0xFF) / 255 }
            let embedding: JSONValue = base64
                ? .string(vector.withUnsafeBufferPointer { Data(buffer: $0) }.base64EncodedString())
                : .array(vector.map { .number(Double($0)) })
            return ["object": "embedding", "index": .number(Double(index)), "embedding": embedding]
        }
        let tokens = max(1, inputs.joined().utf8.count / 4)
        return jsonResponse(.ok, [
            "object": "list", "data": .array(data), "model": .string(body["model"]?.stringValue ?? "mock-embedding"),
            "usage": ["prompt_tokens": .number(Double(tokens)), "total_tokens": .number(Double(tokens))],
        ])
    }
}
