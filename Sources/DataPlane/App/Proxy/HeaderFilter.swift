import HTTPTypes
import NIOHTTP1

/// Which headers cross the proxy, in each direction.
enum HeaderFilter {
    /// Hop-by-hop headers (RFC 9110 §7.6.1) and what the proxy recomputes: never forwarded. Names
    /// arrive lowercased; the length picks the one or two candidates to compare, so most names
    /// are not compared at all (a switch over the names compared each one in turn, ~11 string
    /// comparisons per header).
    static func isHopByHop(_ name: String) -> Bool {
        switch name.utf8.count {
        case 2: name == "te"
        case 4: name == "host"
        case 7: name == "trailer" || name == "upgrade"
        case 10: name == "connection" || name == "keep-alive"
        case 14: name == "content-length"
        case 16: name == "proxy-connection"
        case 17: name == "transfer-encoding"
        case 18: name == "proxy-authenticate"
        case 19: name == "proxy-authorization"
        default: false
        }
    }

    /// Agent → provider: the agent's credentials, Rungate's own headers and cookies stay here,
    /// compression is not requested (usage is read from the answer), and what Rungate sets itself
    /// (the provider's credentials, the body's type and length, the host) is left out, so it is
    /// added without a search for one to replace.
    static func upstream(_ fields: HTTPFields) -> HTTPHeaders {
        var headers = HTTPHeaders()
        for field in fields {
            let name = field.name.canonicalName
            if isHopByHop(name) || name.hasPrefix("proxy-") || name.hasPrefix("x-rungate-") || name.hasPrefix("x-forwarded-") { continue }
            switch name {
            case "authorization", "x-api-key", "cookie", "accept-encoding", "forwarded", "content-type": continue
            default: headers.add(name: name, value: field.value)
            }
        }
        return headers
    }

    /// Provider → agent: everything but hop-by-hop headers, cookies and Rungate's own headers (only
    /// Rungate speaks for Rungate: a provider's `x-rungate-run-id` would otherwise reach the agent
    /// beside the real one). What the proxy sets from this list (the length, the step id) is
    /// therefore added without a search for one to replace.
    ///
    /// An array, to which the proxy adds its own fields before making `HTTPFields` of them once
    /// (`HTTPFields(gathered:)`).
    static func downstream(_ headers: HTTPHeaders) -> [HTTPField] {
        var fields: [HTTPField] = []
        fields.reserveCapacity(headers.count + 6)
        for (name, value) in headers {
            // The field name lowercases itself: no second lowercased copy of each name.
            guard let fieldName = HTTPField.Name(name) else { continue }
            let lower = fieldName.canonicalName
            if isHopByHop(lower) || lower == "set-cookie" || lower == "content-encoding" || lower.hasPrefix("x-rungate-") { continue }
            fields.append(HTTPField(name: fieldName, value: value))
        }
        return fields
    }
}
