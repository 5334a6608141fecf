/// A provider URL split into what a connection needs (scheme, host, port) and what a request needs
/// (path and query). Only http and https: a provider key's base URL is validated as one when saved.
struct UpstreamURL: Sendable, Equatable {
    let endpoint: UpstreamEndpoint
    /// Path and query, starting with "/".
    let target: String

    init?(_ string: String) {
        let tls: Bool
        var rest: Substring
        if string.hasPrefix("https://") {
            tls = true
            rest = string.dropFirst(8)
        } else if string.hasPrefix("http://") {
            tls = false
            rest = string.dropFirst(7)
        } else {
            return nil
        }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        rest = rest[authorityEnd...]
        if let fragment = rest.firstIndex(of: "#") { rest = rest[..<fragment] }
        // Credentials in a URL would be sent nowhere sensible: refused.
        guard !authority.isEmpty, !authority.contains("@") else { return nil }
        let host: Substring, portText: Substring?
        if authority.hasPrefix("[") {
            // An IPv6 literal: "[::1]:8080".
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            guard after.isEmpty || after.hasPrefix(":") else { return nil }
            portText = after.isEmpty ? nil : after.dropFirst()
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            host = authority
            portText = nil
        }
        let port: Int
        if let portText {
            guard let parsed = Int(portText), (1...65535).contains(parsed) else { return nil }
            port = parsed
        } else {
            port = tls ? 443 : 80
        }
        guard !host.isEmpty else { return nil }
        endpoint = UpstreamEndpoint(tls: tls, host: String(host), port: port)
        target = rest.isEmpty ? "/" : (rest.hasPrefix("?") ? "/" + rest : String(rest))
    }
}

/// Where a connection goes; pooled connections are shared per endpoint.
struct UpstreamEndpoint: Hashable, Sendable {
    let tls: Bool
    let host: String
    let port: Int

    /// The Host header: the port only when it is not the scheme's default.
    var hostHeader: String {
        let name = host.contains(":") ? "[\(host)]" : host
        return port == (tls ? 443 : 80) ? name : "\(name):\(port)"
    }

    /// SNI and certificate checks take a name, not an address.
    var isIPAddress: Bool {
        host.contains(":") || host.split(separator: ".").count == 4 && host.allSatisfy { $0.isNumber || $0 == "." }
    }
}
