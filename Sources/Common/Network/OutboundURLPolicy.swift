import Foundation
import NIOCore
import NIOPosix

/// Which URLs Rungate may call on a customer's behalf (provider base URLs, webhook endpoints).
///
/// Unless the deployment allows private targets (`RUNGATE_ALLOW_PRIVATE_URLS`, for demos and
/// self-hosting next to the provider), a URL whose host is — or resolves to — a loopback, private,
/// link-local or otherwise internal address is refused, so a customer cannot make Rungate reach
/// into the network it runs in (SSRF).
public struct OutboundURLPolicy: Sendable {
    public let allowPrivate: Bool

    public init(allowPrivate: Bool) {
        self.allowPrivate = allowPrivate
    }

    /// The URL, normalised without a trailing slash, or why it is refused.
    public func check(_ string: String) async throws(OutboundURLRefused) -> String {
        guard string.count <= 2048, let url = URL(string: string), let scheme = url.scheme?.lowercased(),
              scheme == "https" || scheme == "http", let host = url.host(percentEncoded: false), !host.isEmpty
        else { throw OutboundURLRefused(reason: "must be an absolute http(s) URL") }
        guard url.user == nil, url.password == nil else { throw OutboundURLRefused(reason: "must not carry credentials") }
        guard url.query == nil, url.fragment == nil else { throw OutboundURLRefused(reason: "must not carry a query or fragment") }
        let normalised = string.hasSuffix("/") ? String(string.dropLast()) : string
        if allowPrivate { return normalised }
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).lowercased()
        if bare == "localhost" || bare.hasSuffix(".localhost") || bare.hasSuffix(".internal") || bare.hasSuffix(".local") {
            throw OutboundURLRefused(reason: "points at a local host name")
        }
        let addresses: [SocketAddress]
        if let literal = try? SocketAddress(ipAddress: bare, port: 0) {
            addresses = [literal]
        } else {
            addresses = await Self.resolve(bare)
            guard !addresses.isEmpty else { throw OutboundURLRefused(reason: "has a host name that does not resolve") }
        }
        if addresses.contains(where: Self.isInternal) {
            throw OutboundURLRefused(reason: "points at a private, loopback or link-local address")
        }
        return normalised
    }

    /// Whether an address is one a customer-supplied URL must not reach.
    public static func isInternal(_ address: SocketAddress) -> Bool {
        switch address {
        case .v4(let v4):
            let value = UInt32(bigEndian: v4.address.sin_addr.s_addr)
            return isInternal(v4: value)
        case .v6(let v6):
            let bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff {  // ::ffff:a.b.c.d
                return isInternal(v4: UInt32(bytes[12]) << 24 | UInt32(bytes[13]) << 16 | UInt32(bytes[14]) << 8 | UInt32(bytes[15]))
            }
            if bytes[0..<15].allSatisfy({ $0 == 0 }), bytes[15] <= 1 { return true }  // :: and ::1
            if bytes[0] & 0xfe == 0xfc { return true }  // fc00::/7 unique local
            if bytes[0] == 0xfe, bytes[1] & 0xc0 == 0x80 { return true }  // fe80::/10 link-local
            return false
        case .unixDomainSocket:
            return true
        }
    }

    static func isInternal(v4 value: UInt32) -> Bool {
        let ranges: [(UInt32, UInt32)] = [
            (0x0000_0000, 8), (0x0A00_0000, 8), (0x6440_0000, 10), (0x7F00_0000, 8), (0xA9FE_0000, 16),
            (0xAC10_0000, 12), (0xC000_0000, 24), (0xC0A8_0000, 16), (0xC612_0000, 15), (0xE000_0000, 3),
        ]
        return ranges.contains { base, bits in value >> (32 - bits) == base >> (32 - bits) }
    }

    /// getaddrinfo on the thread pool: resolution blocks, and must never block an event loop.
    static func resolve(_ host: String) async -> [SocketAddress] {
        (try? await NIOThreadPool.singleton.runIfActive {
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var result: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return [] }
            defer { freeaddrinfo(first) }
            var addresses: [SocketAddress] = []
            var cursor: UnsafeMutablePointer<addrinfo>? = first
            while let entry = cursor {
                if let sockaddr = entry.pointee.ai_addr {
                    switch Int32(sockaddr.pointee.sa_family) {
                    case AF_INET:
                        sockaddr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { addresses.append(SocketAddress($0.pointee, host: host)) }
                    case AF_INET6:
                        sockaddr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { addresses.append(SocketAddress($0.pointee, host: host)) }
                    default: break
                    }
                }
                cursor = entry.pointee.ai_next
            }
            return addresses
        }) ?? []
    }
}

public struct OutboundURLRefused: Error, Sendable {
    public let reason: String
}
