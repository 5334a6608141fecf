/// The four roles a user can hold in an org, from least to most privileged.
///
/// Roles are strictly nested: each holds every permission of the roles below it, which is what the
/// design describes (owner ⊃ admin ⊃ member ⊃ viewer) and what makes "at most the user's role" for
/// admin tokens well defined.
public enum Role: String, Sendable, CaseIterable, Codable, Comparable {
    case viewer
    case member
    case admin
    case owner

    private var rank: Int {
        switch self {
        case .viewer: 0
        case .member: 1
        case .admin: 2
        case .owner: 3
        }
    }

    public static func < (lhs: Role, rhs: Role) -> Bool { lhs.rank < rhs.rank }
}
