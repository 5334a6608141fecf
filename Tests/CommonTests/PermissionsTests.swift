import Common
import Testing

@Suite struct PermissionsTests {
    @Test func theCatalogueIsOneListOfDistinctDottedActions() {
        #expect(Action.allCases.count == 57)
        #expect(Set(Action.allCases.map(\.rawValue)).count == Action.allCases.count)
        for action in Action.allCases {
            #expect(action.rawValue.split(separator: ".").count == 2, "\(action.rawValue) is not area.verb")
        }
    }

    @Test func rolesAreNestedAndMatchTheDesign() {
        for action in Action.allCases {
            // Whatever a role may do, every higher role may do too.
            let allowed = Role.allCases.map { Permissions.allows($0, action) }
            #expect(allowed == allowed.sorted { !$0 && $1 }, "\(action.rawValue) is not monotonic in the role")
            #expect(Permissions.allows(.owner, action), "the owner may do everything")
        }
        // Owner only: ownership, deletion, billing.
        for action in [Action.orgDelete, .orgTransferOwnership, .billingRead, .billingUpdate] {
            #expect(!Permissions.allows(.admin, action))
        }
        // Admin: agents, policies, provider keys, webhooks, members.
        for action in [Action.agentsCreate, .policiesUpdate, .providerKeysCreate, .webhooksCreate, .membersInvite, .membersRemove] {
            #expect(Permissions.allows(.admin, action) && !Permissions.allows(.member, action))
        }
        // Member: runs and analytics, approval gates; not agents or policies.
        #expect(Permissions.allows(.member, .approvalsDecide) && Permissions.allows(.member, .runsRead) && Permissions.allows(.member, .analyticsRead))
        #expect(!Permissions.allows(.member, .agentsCreate) && !Permissions.allows(.member, .policiesUpdate))
        // Viewer: reads only.
        for action in Action.allCases where Permissions.allows(.viewer, action) {
            #expect(action.isRead || action == .orgLeave, "viewer may \(action.rawValue)")
        }
        #expect(!Permissions.allows(.viewer, .approvalsDecide))
    }

    @Test func scopesNarrowButNeverWiden() throws {
        let scopes = try ScopeSet(["teams.*", "runs.read"])
        #expect(scopes.contains(.teamsCreate) && scopes.contains(.runsRead) && !scopes.contains(.runsCancel))
        #expect(Permissions.allows(.admin, scopes: scopes, .teamsCreate))
        #expect(!Permissions.allows(.viewer, scopes: scopes, .teamsCreate), "a scope never adds to the role")
        #expect(!Permissions.allows(.owner, scopes: scopes, .orgDelete))
        #expect(Permissions.allows(.owner, scopes: .all, .orgDelete))
        #expect(throws: InvalidScope.self) { try ScopeSet(["teams.destroy"]) }
        #expect(throws: InvalidScope.self) { try ScopeSet(["nope.*"]) }
        #expect(ScopeSet(stored: ["retired.action"]).actions.isEmpty)
    }
}
