@testable import DataPlane
import HTTPTypes
import NIOHTTP1
import NIOHTTPTypesHTTP1
import Testing

/// What crosses the proxy: an agent's credentials and the hop-by-hop headers never reach the
/// provider, and the provider's hop-by-hop headers and cookies never reach the agent.
@Suite struct HeaderFilterTests {
    static let hopByHop = ["connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "proxy-authorization",
                           "proxy-authenticate", "proxy-connection", "host", "content-length"]
    /// Names of the same lengths as hop-by-hop ones (and one letter off them), which do cross.
    static let endToEnd = ["tx", "hosT-", "accept", "trailers", "upgradE-", "connectio", "keep-alivE", "content-lengtH",
                           "x-request-id", "content-typE-", "openai-organization", "anthropic-version", "user-agent", "x-stainless-lang"]

    @Test func hopByHopHeadersAreNamedByLengthAndSpelling() {
        for name in Self.hopByHop { #expect(HeaderFilter.isHopByHop(name), "\(name)") }
        for name in Self.endToEnd.map({ $0.lowercased() }) where !Self.hopByHop.contains(name) {
            #expect(!HeaderFilter.isHopByHop(name), "\(name)")
        }
    }

    /// Nor what Rungate sets itself (the body it forwards is JSON of its choosing).
    @Test func theProviderGetsNeitherTheAgentsCredentialsNorHopByHopHeaders() throws {
        var fields = HTTPFields()
        for name in Self.hopByHop + Self.endToEnd + ["authorization", "x-api-key", "cookie", "accept-encoding", "forwarded",
                                                     "content-type", "x-rungate-run-id", "x-forwarded-for", "proxy-foo"] {
            fields.append(HTTPField(name: try #require(HTTPField.Name(name)), value: "v"))
        }
        let forwarded = Set(HeaderFilter.upstream(fields).map(\.name))
        #expect(forwarded == Set(Self.endToEnd.map { $0.lowercased() }.filter { !Self.hopByHop.contains($0) }))
    }

    /// Nor a provider's headers in Rungate's name.
    @Test func theAgentGetsNeitherHopByHopHeadersNorCookies() {
        var headers = HTTPHeaders()
        for name in Self.hopByHop + Self.endToEnd + ["Set-Cookie", "Content-Encoding", "Content-Type", "X-Rungate-Run-Id", "x-rungate-status"] {
            headers.add(name: name, value: "v")
        }
        let returned = Set(HeaderFilter.downstream(headers).map(\.name.canonicalName))
        #expect(returned == Set(Self.endToEnd.map { $0.lowercased() }.filter { !Self.hopByHop.contains($0) } + ["content-type"]))
    }

    /// A request's headers become the same fields as through NIOHTTPTypesHTTP1's conversion: the
    /// first Host (any case) left out, a second kept, names lower-cased, invalid names dropped,
    /// values as they were (cookies not split), order kept.
    @Test func requestHeadersBecomeTheFieldsNIOsConversionMakes() {
        let lists: [[(String, String)]] = [
            [("Host", "a.example"), ("Authorization", "Bearer x"), ("Content-Type", "application/json"), ("Content-Length", "12")],
            [("user-agent", "u"), ("HOST", "a"), ("host", "b"), ("X-Rungate-Run-Id", "r"), ("Cookie", "a=1; b=2")],
            [("bad name", "v"), ("good", "v\u{7f}"), ("Ünicode", "v"), ("x-empty", ""), ("X-Dup", "1"), ("x-dup", "2")],
            [],
        ]
        for list in lists {
            let headers = HTTPHeaders(list)
            #expect(HTTPFields(requestHeaders: headers) == HTTPFields(headers, splitCookie: false), "\(list)")
        }
    }
}
