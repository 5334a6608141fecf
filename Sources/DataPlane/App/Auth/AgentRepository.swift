import Common
import Foundation
import PostgresNIO

/// Finds the agent behind an agent-token hash.
public protocol AgentRepository: Sendable {
    /// The principal for a live (unrevoked, unexpired) token, or nil.
    func principal(tokenHash: String) async throws -> AgentPrincipal?
    /// Sets `last_used_at` to now on these tokens.
    func markUsed(tokenIDs: [UUID]) async throws
}

public struct PostgresAgentRepository: AgentRepository {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    public func principal(tokenHash: String) async throws -> AgentPrincipal? {
        let rows = try await database.client.query(
            """
            SELECT t.id, a.id, a.org_id, a.team_id, a.policy_id, a.policy_version,
                   a.status = 'active', o.status = 'active', COALESCE(s.store_payloads, true)
            FROM agent_tokens t
            JOIN agents a ON a.id = t.agent_id AND a.org_id = t.org_id
            JOIN orgs o ON o.id = a.org_id
            LEFT JOIN org_settings s ON s.org_id = o.id
            WHERE t.token_hash = \(tokenHash) AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
              AND o.deletion_due_at IS NULL
            """, logger: database.logger)
        for try await (tokenID, agentID, orgID, teamID, policyID, policyVersion, agentActive, orgActive, storePayloads)
            in rows.decode((UUID, UUID, UUID, UUID?, UUID?, Int?, Bool, Bool, Bool).self)
        {
            return AgentPrincipal(
                tokenID: tokenID, tokenHash: tokenHash, agentID: agentID, orgID: orgID, teamID: teamID, policyID: policyID,
                policyVersion: policyVersion, agentActive: agentActive, orgActive: orgActive, storePayloads: storePayloads)
        }
        return nil
    }

    public func markUsed(tokenIDs: [UUID]) async throws {
        try await database.client.query(
            "UPDATE agent_tokens SET last_used_at = now() WHERE id = ANY(\(tokenIDs))", logger: database.logger)
    }
}
