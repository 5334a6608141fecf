import Common
import ControlPlane
import Foundation
import HummingbirdBcrypt
import PostgresNIO
import TestSupport

/// A user created straight in the database, with a live session.
struct FixtureUser: Sendable {
    let id: UUID
    let email: String
    let session: Token

    var idString: String { id.uuidString.lowercased() }
}

/// An org with one user per role (two owners, so an owner may leave), a spare member to act on
/// ("target", a viewer), a team, a pending invitation, admin tokens, and a user of another org.
/// Written as the database owner, so it does not depend on the code under test.
struct OrgFixture: Sendable {
    static let password = "fixture-password-123"
    /// bcrypt of `password` at cost 4, computed once.
    static let passwordHash = Bcrypt.hash(password, cost: 4)

    let orgID: UUID
    let otherOrgID: UUID
    let owner, coOwner, admin, member, viewer, target, outsider: FixtureUser
    let teamID: UUID
    let invitationID: UUID
    /// The owner's `*` token, for revocation.
    let ownerTokenID: UUID
    let ownerToken: Token
    /// The owner's token, already revoked.
    let revokedToken: Token
    /// Governed resources (Control plane II), one of each, with what their routes need.
    let resources: Resources

    struct Resources: Sendable {
        let agentID, agentTokenID, providerKeyID, policyID, budgetID, priceID, webhookID, deliveryID: UUID
        let runID, stepID, artifactID, approvalID: UUID
        let keyring: MasterKeyring
        /// The agent's token itself (a data plane call's credential).
        let agentToken: Token
    }

    var orgString: String { orgID.uuidString.lowercased() }

    func user(_ role: Role) -> FixtureUser {
        switch role {
        case .owner: owner
        case .admin: admin
        case .member: member
        case .viewer: viewer
        }
    }

    static func create(on client: PostgresClient, keyring: MasterKeyring = .random()) async throws -> OrgFixture {
        let logger = TestServers.logger
        let orgID = UUID(), otherOrgID = UUID()
        let tag = UUID().uuidString.prefix(8).lowercased()

        func user(_ name: String) async throws -> FixtureUser {
            let id = UUID(), session = Token.generate(.session), email = "\(name)-\(tag)@example.com"
            try await client.query("INSERT INTO users (id, email, password_hash) VALUES (\(id), \(email), \(passwordHash))", logger: logger)
            try await client.query(
                "INSERT INTO sessions (user_id, token_hash, expires_at) VALUES (\(id), \(session.hash), now() + interval '1 hour')", logger: logger)
            return FixtureUser(id: id, email: email, session: session)
        }
        func org(_ id: UUID, _ name: String) async throws {
            try await client.query("INSERT INTO orgs (id, name) VALUES (\(id), \(name))", logger: logger)
            try await client.query("INSERT INTO org_settings (org_id) VALUES (\(id))", logger: logger)
        }
        func join(_ org: UUID, _ user: FixtureUser, _ role: Role) async throws {
            try await client.query("INSERT INTO memberships (org_id, user_id, role) VALUES (\(org), \(user.id), \(role.rawValue))", logger: logger)
        }
        func token(_ user: FixtureUser, scopes: [String], revoked: Bool = false) async throws -> (UUID, Token) {
            let token = Token.generate(.admin)
            let id = try await client.query(
                """
                INSERT INTO admin_tokens (org_id, user_id, token_hash, display_prefix, name, scopes, revoked_at)
                VALUES (\(orgID), \(user.id), \(token.hash), \(token.displayPrefix), 'fixture', \(scopes), \(revoked ? Date() : nil))
                RETURNING id
                """, logger: logger).first(decoding: UUID.self)!
            return (id, token)
        }

        try await org(orgID, "Fixture org \(tag)")
        try await org(otherOrgID, "Other org \(tag)")
        let owner = try await user("owner"), coOwner = try await user("coowner"), admin = try await user("admin")
        let member = try await user("member"), viewer = try await user("viewer"), target = try await user("target")
        let outsider = try await user("outsider")
        for (user, role) in [(owner, Role.owner), (coOwner, .owner), (admin, .admin), (member, .member), (viewer, .viewer), (target, .viewer)] {
            try await join(orgID, user, role)
        }
        try await join(otherOrgID, outsider, .owner)
        let teamID = try await client.query("INSERT INTO teams (org_id, name) VALUES (\(orgID), 'platform') RETURNING id", logger: logger)
            .first(decoding: UUID.self)!
        try await client.query("INSERT INTO team_members (org_id, team_id, user_id) VALUES (\(orgID), \(teamID), \(target.id))", logger: logger)
        let invitationID = try await client.query(
            """
            INSERT INTO invitations (org_id, email, role, token_hash, invited_by, expires_at)
            VALUES (\(orgID), \("invitee-\(tag)@example.com"), 'member', \(Token.generate(.invitation).hash), \(owner.id), now() + interval '1 day')
            RETURNING id
            """, logger: logger).first(decoding: UUID.self)!
        let (ownerTokenID, ownerToken) = try await token(owner, scopes: ["*"])
        let (_, revokedToken) = try await token(owner, scopes: ["*"], revoked: true)
        let resources = try await Self.resources(orgID: orgID, teamID: teamID, owner: owner, keyring: keyring, on: client)
        return OrgFixture(orgID: orgID, otherOrgID: otherOrgID, owner: owner, coOwner: coOwner, admin: admin, member: member, viewer: viewer,
                          target: target, outsider: outsider, teamID: teamID, invitationID: invitationID,
                          ownerTokenID: ownerTokenID, ownerToken: ownerToken, revokedToken: revokedToken, resources: resources)
    }

    /// An admin token of the owner holding every scope except `action`'s.
    func tokenLacking(_ action: Action, on client: PostgresClient) async throws -> Token {
        let token = Token.generate(.admin)
        let scopes = Action.allCases.filter { $0 != action }.map(\.rawValue)
        try await client.query(
            """
            INSERT INTO admin_tokens (org_id, user_id, token_hash, display_prefix, name, scopes)
            VALUES (\(orgID), \(owner.id), \(token.hash), \(token.displayPrefix), 'narrow', \(scopes))
            """, logger: TestServers.logger)
        return token
    }

    /// A pending invitation for `email` into the other org; returns its token.
    func invitation(for email: String, on client: PostgresClient) async throws -> Token {
        let token = Token.generate(.invitation)
        try await client.query(
            """
            INSERT INTO invitations (org_id, email, role, token_hash, invited_by, expires_at)
            VALUES (\(otherOrgID), \(email), 'viewer', \(token.hash), \(outsider.id), now() + interval '1 day')
            """, logger: TestServers.logger)
        return token
    }

    /// An agent with a token, a provider key, a policy with two versions, a budget, a price override,
    /// a webhook with one delivery, a run with a step, its payload and an artifact, and a pending approval.
    static func resources(orgID: UUID, teamID: UUID, owner: FixtureUser, keyring: MasterKeyring, on client: PostgresClient) async throws -> Resources {
        let logger = TestServers.logger
        func one(_ query: PostgresQuery) async throws -> UUID {
            try await client.query(query, logger: logger).first(decoding: UUID.self)!
        }
        let dataKey = try await client.withConnection { connection in
            try await PostgresDataKeyRepository(database: Database(client: client, logger: logger), keyring: keyring).create(orgID: orgID, on: connection)
        }
        func sealed(_ text: String, _ purpose: EncryptionPurpose) throws -> ByteBuffer { ByteBuffer(bytes: try dataKey.seal(Array(text.utf8), purpose: purpose)) }

        let agentID = try await one("INSERT INTO agents (org_id, name, team_id) VALUES (\(orgID), 'fixture-agent', \(teamID)) RETURNING id")
        let agentToken = Token.generate(.agent)
        let agentTokenID = try await one(
            """
            INSERT INTO agent_tokens (org_id, agent_id, token_hash, display_prefix, name, created_by)
            VALUES (\(orgID), \(agentID), \(agentToken.hash), \(agentToken.displayPrefix), 'fixture', \(owner.id)) RETURNING id
            """)
        let providerKeyID = try await one(
            """
            INSERT INTO provider_keys (org_id, provider, name, data_key_id, ciphertext, fingerprint, last_four, is_default)
            VALUES (\(orgID), 'openai', 'fixture-key', \(dataKey.id), \(try sealed("sk-fixture-secret-9876", .providerKey)),
                    \(ProviderKeyFingerprint.of("sk-fixture-secret-9876")), '9876', true) RETURNING id
            """)
        let policyID = try await one("INSERT INTO policies (org_id, name) VALUES (\(orgID), 'fixture-policy') RETURNING id")
        for (version, rules) in [(1, #"{"max_steps_per_run": 10}"#), (2, #"{"max_steps_per_run": 20, "models": {"deny": ["o3*"]}}"#)] {
            try await client.query(
                "INSERT INTO policy_versions (org_id, policy_id, version, rules) VALUES (\(orgID), \(policyID), \(version), \(rules)::jsonb)",
                logger: logger)
        }
        let budgetID = try await one(
            "INSERT INTO budgets (org_id, scope, scope_id, period, cap_micros) VALUES (\(orgID), 'agent', \(agentID), 'day', 5000000) RETURNING id")
        let priceID = try await one(
            """
            INSERT INTO prices (org_id, provider, model, input_micros_per_mtok, output_micros_per_mtok, cached_input_micros_per_mtok)
            VALUES (\(orgID), 'openai', 'fixture-model', 1000, 2000, 500) RETURNING id
            """)
        let webhookID = try await one(
            """
            INSERT INTO webhooks (org_id, url, events, data_key_id, secret_ciphertext)
            VALUES (\(orgID), 'https://203.0.113.10/hook', '{run.ended}', \(dataKey.id), \(try sealed("whsec_fixture", .webhookSecret))) RETURNING id
            """)
        let eventID = try await client.query(
            // Dispatched already: its delivery is the one below (the outbox must not fan it out again).
            "INSERT INTO events (org_id, type, payload, dispatched_at) VALUES (\(orgID), 'run.ended', '{}'::jsonb, now()) RETURNING id", logger: logger
        ).first(decoding: Int64.self)!
        let deliveryID = try await one(
            "INSERT INTO webhook_deliveries (org_id, webhook_id, event_id, status) VALUES (\(orgID), \(webhookID), \(eventID), 'failed') RETURNING id")
        let runID = UUID(), stepID = UUID()
        try await client.query("INSERT INTO runs (id, org_id, agent_id) VALUES (\(runID), \(orgID), \(agentID))", logger: logger)
        try await client.query(
            """
            INSERT INTO steps (id, org_id, run_id, created_at, kind, model, status, input_tokens, output_tokens, cost_micros)
            VALUES (\(stepID), \(orgID), \(runID), now(), 'model_call', 'gpt-4o-mini', 'ok', 12, 7, 42)
            """, logger: logger)
        try await client.query(
            """
            INSERT INTO payloads (step_id, org_id, run_id, created_at, data_key_id, request_ciphertext, response_ciphertext)
            VALUES (\(stepID), \(orgID), \(runID), now(), \(dataKey.id), \(try sealed(#"{"model":"gpt-4o-mini"}"#, .payload)),
                    \(try sealed(#"{"id":"chatcmpl-1"}"#, .payload)))
            """, logger: logger)
        let artifactID = try await one(
            """
            INSERT INTO artifacts (org_id, run_id, name, media_type, size_bytes, sha256, data_key_id, ciphertext)
            VALUES (\(orgID), \(runID), 'notes.txt', 'text/plain', 5, 'x', \(dataKey.id), \(try sealed("hello", .artifact))) RETURNING id
            """)
        let approvalID = try await one(
            """
            INSERT INTO approvals (org_id, run_id, agent_id, rule, body_digest, proposed_action, expires_at)
            VALUES (\(orgID), \(runID), \(agentID), 'tools.require_approval[0]', 'digest',
                    '{"tool": "delete_database", "arguments": {"name": "prod"}}'::jsonb, now() + interval '1 hour') RETURNING id
            """)
        return Resources(agentID: agentID, agentTokenID: agentTokenID, providerKeyID: providerKeyID, policyID: policyID, budgetID: budgetID,
                         priceID: priceID, webhookID: webhookID, deliveryID: deliveryID, runID: runID, stepID: stepID, artifactID: artifactID,
                         approvalID: approvalID, keyring: keyring, agentToken: agentToken)
    }
}
