import Common
import Foundation
import HummingbirdBcrypt
import Logging
import NIOPosix
import PostgresNIO

/// Creates the first org of a fresh deployment: its owner, an admin token, and a demo agent with
/// a token and provider keys pointing at `providerBaseURL` (the mock provider in a demo). Token
/// values are returned once and never stored; everything is written in one transaction and audited.
public struct Bootstrap: Sendable {
    public struct Request: Sendable {
        public var orgName: String
        public var ownerEmail: String
        public var ownerPassword: String
        public var agentName: String
        public var providerBaseURL: String
        public var providerAPIKey: String

        public init(orgName: String, ownerEmail: String, ownerPassword: String, agentName: String,
                    providerBaseURL: String, providerAPIKey: String) {
            self.orgName = orgName
            self.ownerEmail = ownerEmail
            self.ownerPassword = ownerPassword
            self.agentName = agentName
            self.providerBaseURL = providerBaseURL
            self.providerAPIKey = providerAPIKey
        }
    }

    public struct Result: Sendable {
        public let orgID: UUID
        public let ownerID: UUID
        public let agentID: UUID
        public let adminToken: Token
        public let agentToken: Token
    }

    let database: Database
    let dataKeys: any DataKeyRepository

    public init(database: Database, dataKeys: any DataKeyRepository) {
        self.database = database
        self.dataKeys = dataKeys
    }

    public func run(_ request: Request) async throws -> Result {
        let email = request.ownerEmail.lowercased()
        guard request.ownerPassword.count >= 12 else {
            throw ConfigurationError("the owner password must be at least 12 characters")
        }
        let password = request.ownerPassword
        let passwordHash = try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: 12) }
        let orgID = UUID(), ownerID = UUID(), agentID = UUID()
        let adminToken = Token.generate(.admin), agentToken = Token.generate(.agent)
        let logger = database.logger

        try await database.withOrg(orgID) { connection in
            try await connection.query("INSERT INTO orgs (id, name) VALUES (\(orgID), \(request.orgName))", logger: logger)
            try await connection.query("INSERT INTO org_settings (org_id) VALUES (\(orgID))", logger: logger)
            let dataKey = try await dataKeys.create(orgID: orgID, on: connection)
            try await connection.query(
                "INSERT INTO users (id, email, password_hash) VALUES (\(ownerID), \(email), \(passwordHash))", logger: logger)
            try await connection.query(
                "INSERT INTO memberships (org_id, user_id, role) VALUES (\(orgID), \(ownerID), 'owner')", logger: logger)
            try await connection.query(
                """
                INSERT INTO admin_tokens (org_id, user_id, token_hash, display_prefix, name, scopes)
                VALUES (\(orgID), \(ownerID), \(adminToken.hash), \(adminToken.displayPrefix), 'bootstrap', \(["*"]))
                """, logger: logger)
            try await connection.query(
                "INSERT INTO agents (id, org_id, name, description) VALUES (\(agentID), \(orgID), \(request.agentName), 'Created by bootstrap')",
                logger: logger)
            try await connection.query(
                """
                INSERT INTO agent_tokens (org_id, agent_id, token_hash, display_prefix, name, created_by)
                VALUES (\(orgID), \(agentID), \(agentToken.hash), \(agentToken.displayPrefix), 'bootstrap', \(ownerID))
                """, logger: logger)
            // One default key per API family, both at the configured provider.
            for provider in ["openai_compatible", "anthropic"] {
                let sealed = try dataKey.seal(Array(request.providerAPIKey.utf8), purpose: .providerKey)
                try await connection.query(
                    """
                    INSERT INTO provider_keys (org_id, provider, name, base_url, data_key_id, ciphertext, fingerprint, last_four, is_default)
                    VALUES (\(orgID), \(provider), \("demo-" + provider), \(request.providerBaseURL), \(dataKey.id),
                            \(ByteBuffer(bytes: sealed)), \(ProviderKeyFingerprint.of(request.providerAPIKey)),
                            \(String(request.providerAPIKey.suffix(4))), true)
                    """, logger: logger)
            }
            let after: JSONValue = [
                "org": .string(orgID.uuidString), "owner": .string(email), "agent": .string(request.agentName),
                "admin_token": .string(adminToken.displayPrefix), "agent_token": .string(agentToken.displayPrefix),
            ]
            try await connection.query(
                """
                INSERT INTO org_audit_log (org_id, actor_type, actor_id, origin_ip, action, target_type, target_id, after)
                VALUES (\(orgID), 'system', 'bootstrap', 'cli', 'org.bootstrap', 'org', \(orgID.uuidString), \(after.jsonb)::jsonb)
                """, logger: logger)
        }
        return Result(orgID: orgID, ownerID: ownerID, agentID: agentID, adminToken: adminToken, agentToken: agentToken)
    }
}
