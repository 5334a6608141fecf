import Common
import Foundation
import Hummingbird
import NIOCore

/// Admits a platform call: the client address must be allowed (when a list is configured), and
/// the credential must be a live `rg_platform_` token — agent and admin tokens are refused here.
struct PlatformGuard: Sendable {
    let database: Database
    let allowedNetworks: [IPNetwork]

    func admit(_ request: Request, context: PlatformRequestContext) async throws -> PlatformPrincipal {
        if !allowedNetworks.isEmpty {
            guard let address = context.remoteAddress, allowedNetworks.contains(where: { $0.contains(address) }) else {
                throw RungateError(.forbidden, code: "address_not_allowed", message: "The platform API does not accept calls from this address.",
                                   recovery: "Call from an address in RUNGATE_PLATFORM_ALLOWED_NETWORKS.")
            }
        }
        try database.requireReachable()
        guard let presented = request.headers[.authorization]?.bearerCredential else {
            throw RungateError.unauthenticated("The platform API needs `Authorization: Bearer rg_platform_…`.")
        }
        let token: Token
        do {
            token = try Token.parse(presented, expecting: .platform)
        } catch {
            throw RungateError.unauthenticated("Only platform tokens are accepted here: \(error.description).")
        }
        let found: (UUID, String)?
        do {
            found = try await database.query(
                """
                UPDATE platform_tokens SET last_used_at = now()
                WHERE token_hash = \(token.hash) AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
                RETURNING id, name
                """) { try await $0.firstRow(decoding: (UUID, String).self) }
        } catch {
            throw RungateError.dependencyUnavailable("database")
        }
        guard let (id, name) = found else { throw RungateError.unauthenticated("The platform token is unknown, expired or revoked.") }
        return PlatformPrincipal(tokenID: id, name: name)
    }
}

/// An IPv4 or IPv6 network in CIDR form (`10.0.0.0/8`, `2001:db8::/32`, or a single address).
public struct IPNetwork: Sendable, Equatable {
    let bytes: [UInt8]
    let prefix: Int

    public init?(_ text: String) {
        let parts = text.trimmingCharacters(in: .whitespaces).split(separator: "/", maxSplits: 1)
        guard let first = parts.first, let address = try? SocketAddress(ipAddress: String(first), port: 0), let bytes = Self.bytes(of: address)
        else { return nil }
        let prefix = parts.count == 2 ? Int(parts[1]) : bytes.count * 8
        guard let prefix, (0...(bytes.count * 8)).contains(prefix) else { return nil }
        self.bytes = bytes
        self.prefix = prefix
    }

    public func contains(_ address: SocketAddress) -> Bool {
        guard let candidate = Self.bytes(of: address), candidate.count == bytes.count else { return false }
        for bit in 0..<prefix {
            let mask = UInt8(0x80) >> UInt8(bit % 8)
            if candidate[bit / 8] & mask != bytes[bit / 8] & mask { return false }
        }
        return true
    }

    static func bytes(of address: SocketAddress) -> [UInt8]? {
        switch address {
        case .v4(let v4): withUnsafeBytes(of: v4.address.sin_addr) { Array($0) }
        case .v6(let v6): withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
        default: nil
        }
    }
}
