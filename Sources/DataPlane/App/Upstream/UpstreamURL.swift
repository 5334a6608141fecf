/// A provider URL split into what a connection needs (scheme, host, port) and what a request needs
/// (path and query). Only http and https: a provider key's base URL is validated as one when saved.
struct UpstreamURL: Sendable, Equatable {
    let endpoint: UpstreamEndpoint
    /// Path and query, starting with "/".
    let target: String
    /// What text appended to the URL string extends (nil when a fragment would swallow it): lets a
    /// provider's base URL be parsed once and each call's path appended (`appending(_:)`).
    private let appendable: String?

    init?(_ string: String) {
        // Read as UTF-8 bytes: every delimiter is ASCII, and splitting by Characters (grapheme
        // breaking) made this a measurable part of each call.
        let tls: Bool
        var rest = Substring(string).utf8
        if rest.starts(with: "https://".utf8) {
            tls = true
            rest = rest.dropFirst(8)
        } else if rest.starts(with: "http://".utf8) {
            tls = false
            rest = rest.dropFirst(7)
        } else {
            return nil
        }
        let authorityEnd = rest.firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        rest = rest[authorityEnd...]
        var hasFragment = false
        if let fragment = rest.firstIndex(of: UInt8(ascii: "#")) {
            rest = rest[..<fragment]
            hasFragment = true
        }
        // Credentials in a URL would be sent nowhere sensible: refused.
        guard !authority.isEmpty, !authority.contains(UInt8(ascii: "@")) else { return nil }
        let host: Substring.UTF8View, portText: Substring.UTF8View?
        if authority.first == UInt8(ascii: "[") {
            // An IPv6 literal: "[::1]:8080".
            guard let close = authority.firstIndex(of: UInt8(ascii: "]")) else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            guard after.isEmpty || after.first == UInt8(ascii: ":") else { return nil }
            portText = after.isEmpty ? nil : after.dropFirst()
        } else if let colon = authority.lastIndex(of: UInt8(ascii: ":")) {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            host = authority
            portText = nil
        }
        let port: Int
        if let portText {
            guard let parsed = Int(String(decoding: portText, as: UTF8.self)), (1...65535).contains(parsed) else { return nil }
            port = parsed
        } else {
            port = tls ? 443 : 80
        }
        guard !host.isEmpty else { return nil }
        endpoint = UpstreamEndpoint(tls: tls, host: String(decoding: host, as: UTF8.self), port: port)
        let path = String(decoding: rest, as: UTF8.self)
        target = path.isEmpty ? "/" : (rest.first == UInt8(ascii: "?") ? "/" + path : path)
        appendable = hasFragment ? nil : (path.isEmpty ? "" : target)
    }

    private init(endpoint: UpstreamEndpoint, target: String, appendable: String?) {
        self.endpoint = endpoint
        self.target = target
        self.appendable = appendable
    }

    /// The URL `UpstreamURL(string + path)` would read, without parsing again: a call's URL is its
    /// provider's base URL (parsed once, when the key is loaded) and the endpoint's path. Parsing
    /// the joined string on every call was ~7 K instructions (bench/RESULTS.md, session 33).
    func appending(_ path: String) -> UpstreamURL {
        precondition(path.utf8.first == UInt8(ascii: "/"), "a path, not a continuation of the host")
        guard let appendable else { return self }
        let target = appendable + path
        return UpstreamURL(endpoint: endpoint, target: target, appendable: target)
    }

    /// The same request goes to the same place: what a path would be appended to is not compared.
    static func == (lhs: UpstreamURL, rhs: UpstreamURL) -> Bool {
        lhs.endpoint == rhs.endpoint && lhs.target == rhs.target
    }
}

/// Where a connection goes; pooled connections are shared per endpoint.
struct UpstreamEndpoint: Hashable, Sendable {
    let tls: Bool
    let host: String
    let port: Int
    /// The Host header: the port only when it is not the scheme's default (built once, sent with every call).
    let hostHeader: String

    init(tls: Bool, host: String, port: Int) {
        self.tls = tls
        self.host = host
        self.port = port
        let name = Self.isIPv6(host) ? "[\(host)]" : host
        hostHeader = port == (tls ? 443 : 80) ? name : "\(name):\(port)"
    }

    /// SNI and certificate checks take a name, not an address.
    var isIPAddress: Bool {
        Self.isIPv6(host) || host.split(separator: ".").count == 4 && host.allSatisfy { $0.isNumber || $0 == "." }
    }

    /// Only an IPv6 literal has a colon. Read on the bytes: `String.contains(_:)` with a string is
    /// Foundation's `range(of:)`, ~4.5 K instructions on every call (bench/RESULTS.md, session 21).
    private static func isIPv6(_ host: String) -> Bool {
        host.utf8.contains(UInt8(ascii: ":"))
    }
}
