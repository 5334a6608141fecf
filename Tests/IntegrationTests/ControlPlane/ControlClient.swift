import Common
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore

/// A control-plane answer, decoded.
struct APIAnswer {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let json: JSONValue

    var errorCode: String? { json["error"]?["code"]?.stringValue }
}

extension TestClientProtocol {
    /// Calls the control plane with an optional bearer credential (or raw headers) and JSON body.
    func call(_ method: HTTPRequest.Method, _ uri: String, bearer: String? = nil, headers extra: HTTPFields = [:],
              body: JSONValue? = nil) async throws -> APIAnswer {
        var headers = extra
        headers[.contentType] = "application/json"
        if let bearer { headers[.authorization] = "Bearer \(bearer)" }
        let buffer = try body.map { ByteBuffer(bytes: try JSONEncoder().encode($0)) }
        return try await execute(uri: uri, method: method, headers: headers, body: buffer) { response in
            let json = response.body.readableBytes == 0 ? JSONValue.null : ((try? JSONDecoder().decode(JSONValue.self, from: response.body)) ?? .null)
            return APIAnswer(status: response.status, headers: response.headers, json: json)
        }
    }
}
