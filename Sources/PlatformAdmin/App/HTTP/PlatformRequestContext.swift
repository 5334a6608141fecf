import Foundation
import Common
import Hummingbird
import NIOCore

/// Who is calling the platform service: a platform token, named for the audit trail.
public struct PlatformPrincipal: Sendable {
    public let tokenID: UUID
    public let name: String
}

/// The request context of platform routes: the authenticated principal and the peer address.
public struct PlatformRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var principal: PlatformPrincipal?
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }

    public func requirePrincipal() throws -> PlatformPrincipal {
        guard let principal else { throw RungateError.unauthenticated("This endpoint needs a platform token (`Bearer rg_platform_…`).") }
        return principal
    }
}
