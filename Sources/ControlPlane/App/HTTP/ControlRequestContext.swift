import Common
import Hummingbird
import NIOCore

/// The request context of control-plane routes: the authenticated identity and, on org routes,
/// the org access the route guard established before the handler runs.
public struct ControlRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var identity: Identity?
    public var org: OrgAccess?
    public let remoteIP: String?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteIP = source.channel.remoteAddress?.ipAddress
    }

    /// The identity; the route guard guarantees one on every route that is not public.
    public func requireIdentity() throws -> Identity {
        guard let identity else { throw RungateError.unauthenticated("This endpoint needs a session or an admin token.") }
        return identity
    }

    /// The org access; the route guard guarantees it on every org route.
    public func requireOrg() throws -> OrgAccess {
        guard let org else { throw RungateError.internalError(requestID: id) }
        return org
    }
}
