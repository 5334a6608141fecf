import Common
@testable import ControlPlane
import Foundation
import Testing

/// How console forms become API bodies, and what stays out of a page's links.
@Suite struct ConsoleFormTests {
    @Test func formFieldsAreTypedByTheRouteSchema() {
        let schema: JSONValue = [
            "type": "object",
            "properties": [
                "name": ["type": "string"], "cap_micros": ["type": "integer"], "store_payloads": ["type": "boolean"],
                "events": ["type": "array"], "rules": ["type": "object"], "description": ["anyOf": [["type": "string"], ["type": "null"]]],
            ],
        ]
        let body = ConsoleRoutes.body(from: [
            "name": " agent-1 ", "cap_micros": "5000", "store_payloads": "on", "events": "run.started, run.ended\npolicy.drift",
            "rules": #"{"models": {"allow": ["gpt-4o*"]}}"#, "description": "", "csrf": "x", "_path": "/api/…",
        ], schema: schema)
        #expect(body == [
            "name": "agent-1", "cap_micros": 5000, "store_payloads": true, "events": ["run.started", "run.ended", "policy.drift"],
            "rules": ["models": ["allow": ["gpt-4o*"]]],
        ])
        #expect(ConsoleRoutes.body(from: ["description": "", "_clear_description": "1"], schema: schema) == ["description": nil])
    }

    @Test func afterAnActionTheConsoleOnlyReturnsToAPageOfTheSameOrg() {
        let org = "11111111-2222-3333-4444-555555555555"
        #expect(ConsoleRoutes.safeBack("/orgs/\(org)/agents", orgID: org) == "/orgs/\(org)/agents")
        for hostile in ["https://evil.example/", "//evil.example/orgs/\(org)/", "/orgs/other/agents", "/orgs/\(org)/..//evil", "/orgs/\(org)/\\evil", nil] {
            #expect(ConsoleRoutes.safeBack(hostile, orgID: org) == "/orgs/\(org)/approvals")
        }
    }

    @Test func theCSRFTokenIsBoundToTheSession() {
        let one = ConsoleRoutes.Visit.csrf(for: "rg_ses_one"), two = ConsoleRoutes.Visit.csrf(for: "rg_ses_two")
        #expect(one.count == 64 && one != two && one == ConsoleRoutes.Visit.csrf(for: "rg_ses_one"))
    }

    /// Runs made in the same minute tell apart by their short ids (a time-ordered id's first
    /// characters are its timestamp, shared by all of them).
    @Test func shortIdsOfRunsMadeTogetherDiffer() {
        let made = Date()
        let ids = (0..<50).map { _ in UUID.timeOrdered(at: made).lowercasedString }
        #expect(Set(ids.map(ConsoleHTML.shortID)).count == 50)
        #expect(ids.allSatisfy { $0.hasSuffix(ConsoleHTML.shortID($0)) && ConsoleHTML.shortID($0).count == 8 })
    }
}
