import Common
import ControlPlane
import Foundation
import HummingbirdTesting
import NIOCore
import PostgresNIO
import TestSupport
import Testing

/// Deleting an org: 24 hours to change one's mind, then every row of the org goes, and the data
/// key with it, so what was encrypted under it stays unreadable even with the master key.
@Suite struct OrgDeletionTests {
    @Test func afterTheGraceWindowNoRowRemainsAndTheKeysAreShredded() async throws {
        let keyring = MasterKeyring.random()
        try await TestDatabase.with { database in
            let logger = TestServers.logger
            // A full org, as bootstrap makes one (owner, admin token, agent, token, provider keys, audit)...
            let org = try await withPostgresClient(url: try database.url(role: "rungate_control")) { client in
                let db = Database(client: client, logger: logger)
                return try await Bootstrap(database: db, dataKeys: PostgresDataKeyRepository(database: db, keyring: keyring)).run(
                    .init(orgName: "Doomed", ownerEmail: "doomed@example.com", ownerPassword: "a-long-enough-password", agentName: "agent",
                          providerBaseURL: "http://127.0.0.1:9/v1", providerAPIKey: "sk-doomed-provider-key"))
            }
            // ...with a run, a step and a payload, and a second org that must survive.
            let (session, ciphertext, dataKeyID, survivor) = try await withPostgresClient(url: database.ownerURL) { owner in
                let session = Token.generate(.session)
                try await owner.query(
                    "INSERT INTO sessions (user_id, token_hash, expires_at) VALUES (\(org.ownerID), \(session.hash), now() + interval '1 hour')",
                    logger: logger)
                let runID = UUID()
                try await owner.query("INSERT INTO runs (id, org_id, agent_id) VALUES (\(runID), \(org.orgID), \(org.agentID))", logger: logger)
                let stepID = UUID()
                try await owner.query(
                    """
                    INSERT INTO steps (id, org_id, run_id, created_at, kind, status)
                    VALUES (\(stepID), \(org.orgID), \(runID), now(), 'model_call', 'ok')
                    """, logger: logger)
                let (ciphertext, dataKeyID) = try await owner.query(
                    "SELECT ciphertext, data_key_id FROM provider_keys WHERE org_id = \(org.orgID) LIMIT 1", logger: logger
                ).firstRow(decoding: (ByteBuffer, UUID).self)!
                let survivor = try await OrgFixture.create(on: owner)
                return (session, ciphertext, dataKeyID, survivor)
            }
            // The provider key opens before deletion, so the check after it means something.
            let before = try await withPostgresClient(url: database.ownerURL) { client in
                try await PostgresDataKeyRepository(database: Database(client: client, logger: logger), keyring: keyring).key(id: dataKeyID, orgID: org.orgID)
            }
            #expect(try before?.open(Array(buffer: ciphertext), purpose: .providerKey) == Array("sk-doomed-provider-key".utf8))

            let orgPath = "/api/orgs/\(org.orgID.uuidString.lowercased())"
            try await TestApps.controlPlane(database).test(.router) { client in
                let scheduled = try await client.call(.delete, orgPath, bearer: session.value)
                #expect(scheduled.status == .accepted)
                let due = scheduled.json["deletion_due_at"]?.stringValue.flatMap { ISO8601DateFormatter().date(from: $0) }
                #expect(due.map { abs($0.timeIntervalSinceNow - 86_400) < 120 } == true)
                // Pending deletion: readable, restorable, but no other write.
                #expect(try await client.call(.get, orgPath, bearer: session.value).status == .ok)
                let rename = try await client.call(.patch, orgPath, bearer: session.value, body: ["name": "Saved?"])
                #expect(rename.status == .conflict && rename.errorCode == "org_pending_deletion")
                #expect(try await client.call(.post, orgPath + "/restore", bearer: session.value).status == .ok)
                #expect(try await client.call(.patch, orgPath, bearer: session.value, body: ["name": "Saved"]).status == .ok)
                #expect(try await client.call(.delete, orgPath, bearer: session.value).status == .accepted)
            }

            try await withPostgresClient(url: try database.url(role: "rungate_control")) { client in
                let db = Database(client: client, logger: logger)
                func job(hoursFromNow hours: Double) -> OrgDeletionJob {
                    OrgDeletionJob(database: db, orgs: PostgresOrgRepository(logger: logger), interval: .seconds(60),
                                   now: { Date().addingTimeInterval(hours * 3600) }, logger: logger)
                }
                let early = try await job(hoursFromNow: 23).runOnce()
                #expect(early.isEmpty, "still inside the grace window")
                let due = try await job(hoursFromNow: 25).runOnce()
                #expect(due == [org.orgID])
            }

            try await withPostgresClient(url: database.ownerURL) { owner in
                let tables = try await owner.query(
                    """
                    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                      AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'org_id' AND NOT a.attisdropped)
                    """, logger: logger).all(decoding: String.self)
                #expect(tables.count >= 20)
                for table in tables {
                    let remaining = try await owner.query(
                        PostgresQuery(unsafeSQL: "SELECT count(*)::int FROM \(table) WHERE org_id = $1", binds: {
                            var binds = PostgresBindings(); binds.append(org.orgID); return binds
                        }()), logger: logger).first(decoding: Int.self)
                    #expect(remaining == 0, "\(table) still holds rows of the deleted org")
                }
                #expect(try await owner.query("SELECT count(*)::int FROM orgs WHERE id = \(org.orgID)", logger: logger).first(decoding: Int.self) == 0)
                let purgeRecord = try await owner.query(
                    "SELECT count(*)::int FROM platform_audit_log WHERE action = 'org.purged' AND target_id = \(org.orgID.uuidString.lowercased())", logger: logger
                ).first(decoding: Int.self)
                #expect(purgeRecord == 1)
                // The other org is untouched.
                #expect(try await owner.query("SELECT count(*)::int FROM memberships WHERE org_id = \(survivor.orgID)", logger: logger)
                    .first(decoding: Int.self) == 6)

                // Crypto-shred: the wrapped data key is gone, and the master key alone cannot rebuild it
                // (data keys are random, not derived), so the saved ciphertext cannot be opened.
                let after = try await PostgresDataKeyRepository(database: Database(client: owner, logger: logger), keyring: keyring)
                    .key(id: dataKeyID, orgID: org.orgID)
                #expect(after == nil)
                let guess = keyring.newDataKey(orgID: org.orgID)
                #expect((try? guess.open(Array(buffer: ciphertext), purpose: .providerKey)) == nil)
            }
        }
    }
}
