/// The one place that decides who may do what in an org.
public enum Permissions {
    /// Whether `role` may perform `action`.
    public static func allows(_ role: Role, _ action: Action) -> Bool {
        role >= action.minimumRole
    }

    /// Whether a credential holding `role` and limited to `scopes` may perform `action`: the role
    /// must allow it, and the scopes must name it (`*` for all, `area.*` for an area).
    public static func allows(_ role: Role, scopes: ScopeSet, _ action: Action) -> Bool {
        allows(role, action) && scopes.contains(action)
    }
}

/// The scopes of an admin token: action names, `area.*`, or `*`.
public struct ScopeSet: Sendable, Hashable {
    public let scopes: Set<String>

    public static let all = ScopeSet(validated: ["*"])

    private init(validated scopes: Set<String>) {
        self.scopes = scopes
    }

    /// Parses scopes, naming the first one that is not an action, an area wildcard, or `*`.
    public init(_ scopes: [String]) throws(InvalidScope) {
        let areas = Set(Action.allCases.map(\.area))
        for scope in scopes {
            if scope == "*" || Action(rawValue: scope) != nil { continue }
            if scope.hasSuffix(".*"), areas.contains(String(scope.dropLast(2))) { continue }
            throw InvalidScope(scope: scope)
        }
        self.scopes = Set(scopes)
    }

    /// Scopes as read back from storage, where they were validated on the way in; unknown entries
    /// (an action since removed) simply grant nothing.
    public init(stored scopes: [String]) {
        self.scopes = Set(scopes)
    }

    public func contains(_ action: Action) -> Bool {
        scopes.contains("*") || scopes.contains(action.rawValue) || scopes.contains(action.area + ".*")
    }

    /// The actions these scopes name.
    public var actions: [Action] { Action.allCases.filter(contains) }
}

public struct InvalidScope: Error, Sendable {
    public let scope: String
}

extension Action {
    /// `agents` for `agents.create`.
    public var area: String { String(rawValue.prefix { $0 != "." }) }
}
