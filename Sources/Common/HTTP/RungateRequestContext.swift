import Hummingbird
import Logging

/// The request context of routes that need no authenticated principal (health, metrics, login).
public struct RungateRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
    }
}
