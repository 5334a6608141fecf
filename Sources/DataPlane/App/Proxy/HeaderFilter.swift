import HTTPTypes
import NIOHTTP1

/// Which headers cross the proxy, in each direction.
enum HeaderFilter {
    /// Hop-by-hop headers (RFC 9110 §7.6.1) and what the proxy recomputes: never forwarded.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "proxy-authorization",
        "proxy-authenticate", "proxy-connection", "host", "content-length",
    ]

    /// Agent → provider: the agent's credentials, Rungate's own headers and cookies stay here, and
    /// compression is not requested (usage is read from the answer).
    static func upstream(_ fields: HTTPFields) -> HTTPHeaders {
        var headers = HTTPHeaders()
        for field in fields {
            let name = field.name.canonicalName
            if hopByHop.contains(name) || name.hasPrefix("proxy-") || name.hasPrefix("x-rungate-") { continue }
            if ["authorization", "x-api-key", "cookie", "accept-encoding", "forwarded"].contains(name) || name.hasPrefix("x-forwarded-") { continue }
            headers.add(name: name, value: field.value)
        }
        return headers
    }

    /// Provider → agent: everything but hop-by-hop headers and cookies.
    static func downstream(_ headers: HTTPHeaders) -> HTTPFields {
        var fields = HTTPFields()
        for (name, value) in headers {
            let lower = name.lowercased()
            if hopByHop.contains(lower) || lower == "set-cookie" || lower == "content-encoding" { continue }
            if let fieldName = HTTPField.Name(lower) { fields.append(HTTPField(name: fieldName, value: value)) }
        }
        return fields
    }
}
