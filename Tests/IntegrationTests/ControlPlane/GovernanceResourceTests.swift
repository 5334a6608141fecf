import Common
import ControlPlane
import Foundation
import HTTPTypes
import HummingbirdTesting
import PostgresNIO
import TestSupport
import Testing

/// Control plane II through the API: policies, provider keys, budgets, webhooks, runs, approvals, spend.
@Suite struct GovernanceResourceTests {
    static func withOrg(
        configure: @Sendable (inout ControlPlaneConfiguration) -> Void = { _ in },
        _ body: @escaping @Sendable (any TestClientProtocol, OrgFixture, PostgresClient) async throws -> Void
    ) async throws {
        let keyring = MasterKeyring.random()
        var configuration = TestApps.controlPlaneConfiguration(keyring: keyring)
        configure(&configuration)
        let settings = configuration
        try await TestDatabase.with { database in
            try await withPostgresClient(url: database.ownerURL) { db in
                let fixture = try await OrgFixture.create(on: db, keyring: keyring)
                try await TestApps.controlPlane(database, configuration: settings).test(.router) { client in
                    try await body(client, fixture, db)
                }
            }
        }
    }

    @Test func policyMistakesNameTheirPathAndVersionsAreImmutable() async throws {
        try await Self.withOrg { client, fixture, db in
            let owner = fixture.owner.session.value, org = "/api/orgs/\(fixture.orgString)"
            let bad = try await client.call(.post, "\(org)/policies", bearer: owner, body: [
                "name": "strict",
                "rules": [
                    "models": ["allow": ["gpt-4o*", "bad glob!"]],
                    "tools": ["require_approval": [["tool": "delete_*", "arguments": ["path": "([unclosed"]]]],
                    "rate_limits": [["scope": "galaxy", "requests_per_minute": 10]],
                    "max_steps": 5,
                ],
            ])
            #expect(bad.status == .unprocessableContent && bad.errorCode == "invalid_policy")
            let paths = Set((bad.json["error"]?["details"]?["problems"]).map { problems -> [String] in
                guard case .array(let list) = problems else { return [] }
                return list.compactMap { $0["path"]?.stringValue }
            } ?? [])
            #expect(paths == ["rules.models.allow[1]", "rules.tools.require_approval[0].arguments.path", "rules.rate_limits[0].scope", "rules.max_steps"])

            let created = try await client.call(.post, "\(org)/policies", bearer: owner, body: [
                "name": "strict", "rules": ["models": ["deny": ["o3*"]], "max_steps_per_run": 10],
            ])
            #expect(created.status == .created && created.json["versions"]?[0]?["version"] == 1)
            let id = try #require(created.json["policy"]?["id"]?.stringValue)
            let v2 = try await client.call(.post, "\(org)/policies/\(id)/versions", bearer: owner, body: [
                "rules": ["models": ["deny": ["o3*", "o1*"]], "max_steps_per_run": 20, "loop_detection": ["max_repeats": 3, "window_seconds": 60]],
            ])
            #expect(v2.status == .created && v2.json["version"] == 2)
            let diff = try await client.call(.get, "\(org)/policies/\(id)/diff?from=1&to=2", bearer: owner)
            let changes = try #require(diff.json["changes"])
            #expect(changes[0]?["path"] == "loop_detection" && changes[0]?["kind"] == "added")
            #expect(changes[1]?["path"] == "max_steps_per_run" && changes[1]?["before"] == 10 && changes[1]?["after"] == 20)
            #expect(changes[2]?["path"] == "models.deny[1]" && changes[2]?["kind"] == "added", "\(changes)")

            // Pin an agent to it; a pinned policy cannot be deleted; the database refuses to edit a version.
            let agent = fixture.resources.agentID.uuidString.lowercased()
            let pinned = try await client.call(.patch, "\(org)/agents/\(agent)", bearer: owner, body: ["policy": "strict@2"])
            #expect(pinned.status == .ok && pinned.json["policy"] == "strict@2")
            #expect(try await client.call(.patch, "\(org)/agents/\(agent)", bearer: owner, body: ["policy": "strict@9"]).status == .unprocessableContent)
            #expect(try await client.call(.delete, "\(org)/policies/\(id)", bearer: owner).errorCode == "policy_in_use")
            await #expect(throws: PSQLError.self) {
                try await db.query("UPDATE policy_versions SET rules = '{}'::jsonb WHERE policy_id = \(UUID(uuidString: id)!)", logger: TestServers.logger)
            }
        }
    }

    @Test func providerKeysNeverShowTheirSecretAndRefusePrivateURLs() async throws {
        try await Self.withOrg { client, fixture, db in
            let owner = fixture.owner.session.value, org = "/api/orgs/\(fixture.orgString)"
            let secret = "sk-live-very-secret-value-0042"
            for url in ["http://127.0.0.1:9090/v1", "http://10.1.2.3/v1", "http://[::1]/v1", "http://169.254.169.254/latest", "http://localhost/v1",
                        "ftp://203.0.113.5/v1", "https://user:pw@203.0.113.5/v1"] {
                let refused = try await client.call(.post, "\(org)/provider-keys", bearer: owner,
                                                    body: ["provider": "openai_compatible", "name": "local", "api_key": .string(secret), "base_url": .string(url)])
                #expect(refused.status == .unprocessableContent && refused.errorCode == "invalid_base_url", "\(url) was not refused")
            }
            let created = try await client.call(.post, "\(org)/provider-keys", bearer: owner,
                                                body: ["provider": "openai_compatible", "name": "vllm", "api_key": .string(secret),
                                                       "base_url": "https://203.0.113.5/v1/", "is_default": true])
            #expect(created.status == .created && created.json["last_four"] == "0042" && created.json["base_url"] == "https://203.0.113.5/v1")
            #expect(created.json["fingerprint"]?.stringValue?.isEmpty == false)
            let id = try #require(created.json["id"]?.stringValue)
            // The fixture's default OpenAI key is no longer the default: one per API family.
            let list = try await client.call(.get, "\(org)/provider-keys", bearer: owner)
            let defaults = list.json["data"].map { data -> [String] in
                guard case .array(let keys) = data else { return [] }
                return keys.filter { $0["is_default"] == true }.compactMap { $0["name"]?.stringValue }
            }
            #expect(defaults == ["vllm"])
            let replaced = try await client.call(.patch, "\(org)/provider-keys/\(id)", bearer: owner, body: ["api_key": "sk-rotated-secret-7777"])
            #expect(replaced.json["last_four"] == "7777")

            // The stored ciphertext opens to the new secret with the org's key; the secret is nowhere in the clear.
            let everything = try await db.query(
                """
                SELECT string_agg(t, ' ') FROM (
                  SELECT row_to_json(x)::text AS t FROM provider_keys x UNION ALL SELECT row_to_json(x)::text FROM org_audit_log x) s
                """, logger: TestServers.logger).first(decoding: String.self) ?? ""
            for value in [secret, "sk-rotated-secret-7777"] {
                #expect(!everything.contains(value))
                #expect(!String(describing: [created.json, list.json, replaced.json]).contains(value))
            }
        }
    }

    @Test func budgetsReadTheLiveCountersAndResetThem() async throws {
        try await Self.withOrg { client, fixture, db in
            let owner = fixture.owner.session.value, org = "/api/orgs/\(fixture.orgString)"
            let budgetID = fixture.resources.budgetID
            let start = BudgetPeriod.day.start(of: Date())
            let key = BudgetCounterKey.key(orgID: fixture.orgID, budgetID: budgetID, periodStart: start)
            // As the data plane leaves them: 1.2 USD spent, 0.3 reserved for a call in flight, both lines alerted.
            try await withRedisClient { redis in
                _ = try await redis.send("HSET", key, "spent", "1200000", "reserved", "300000", "threshold_alerted", "1", "exceeded_alerted", "1")
            }
            let read = try await client.call(.get, "\(org)/budgets/\(budgetID.uuidString.lowercased())", bearer: owner)
            #expect(read.json["spend"]?["spent_micros"] == 1_200_000 && read.json["spend"]?["reserved_micros"] == 300_000)
            #expect(read.json["spend"]?["source"] == "redis")
            let reset = try await client.call(.post, "\(org)/budgets/\(budgetID.uuidString.lowercased())/reset", bearer: owner)
            #expect(reset.status == .ok && reset.json["spend"]?["spent_micros"] == 0 && reset.json["spend"]?["reserved_micros"] == 300_000)
            try await withRedisClient { redis in
                let alerted = try await redis.send("HMGET", key, "threshold_alerted", "exceeded_alerted").array ?? []
                #expect(alerted.count == 2 && alerted.allSatisfy { $0.string == nil }, "the window alerts again at its lines")
                // A counter Redis does not have is not created by a reset (it would have no expiry).
                _ = try await redis.send("DEL", key)
            }
            let again = try await client.call(.post, "\(org)/budgets/\(budgetID.uuidString.lowercased())/reset", bearer: owner)
            #expect(again.status == .ok && again.json["spend"]?["source"] == "database")
            let exists = try await withRedisClient { redis in try await redis.send("EXISTS", key).int }
            #expect(exists == 0)
            // Without a live counter the durable spend is shown (the next call seeds the counter from it).
            try await db.query(
                "INSERT INTO budget_spend (org_id, budget_id, period_start, spent_micros) VALUES (\(fixture.orgID), \(budgetID), \(start!), 700000)",
                logger: TestServers.logger)
            let durable = try await client.call(.get, "\(org)/budgets/\(budgetID.uuidString.lowercased())", bearer: owner)
            #expect(durable.json["spend"]?["spent_micros"] == 700_000 && durable.json["spend"]?["source"] == "database")
            let audit = try await db.query(
                "SELECT before->>'spent_micros' FROM org_audit_log WHERE action = 'budgets.reset' AND org_id = \(fixture.orgID) ORDER BY id LIMIT 1", logger: TestServers.logger
            ).first(decoding: String.self)
            #expect(audit == "1200000")

            let invalid = try await client.call(.post, "\(org)/budgets", bearer: owner, body: ["scope": "team", "period": "day", "cap_micros": 5])
            #expect(invalid.status == .unprocessableContent && invalid.errorCode == "invalid_scope_id")
            let foreign = try await client.call(.post, "\(org)/budgets", bearer: owner,
                                                body: ["scope": "agent", "scope_id": .string(UUID().uuidString), "period": "day", "cap_micros": 5])
            #expect(foreign.status == .unprocessableContent)
            let duplicate = try await client.call(.post, "\(org)/budgets", bearer: owner,
                                                  body: ["scope": "agent", "scope_id": .string(fixture.resources.agentID.uuidString), "period": "day", "cap_micros": 5])
            #expect(duplicate.status == .conflict)
        }
    }

    @Test func webhookSecretsAreShownOnceAndRotateWithAGraceWindow() async throws {
        try await Self.withOrg { client, fixture, db in
            let owner = fixture.owner.session.value, org = "/api/orgs/\(fixture.orgString)"
            let created = try await client.call(.post, "\(org)/webhooks", bearer: owner,
                                                body: ["url": "https://203.0.113.20/hooks", "events": ["run.ended", "approval.decided"]])
            #expect(created.status == .created)
            let secret = try #require(created.json["secret"]?.stringValue)
            #expect(secret.hasPrefix("whsec_"))
            let id = try #require(created.json["webhook"]?["id"]?.stringValue)
            #expect(!String(describing: try await client.call(.get, "\(org)/webhooks/\(id)", bearer: owner).json).contains(secret))
            let unknown = try await client.call(.post, "\(org)/webhooks", bearer: owner, body: ["url": "https://203.0.113.20/x", "events": ["run.exploded"]])
            #expect(unknown.status == .unprocessableContent)
            let privateURL = try await client.call(.post, "\(org)/webhooks", bearer: owner, body: ["url": "http://192.168.1.10/x", "events": ["run.ended"]])
            #expect(privateURL.status == .unprocessableContent && privateURL.errorCode == "invalid_url")

            let rotated = try await client.call(.post, "\(org)/webhooks/\(id)/rotate-secret", bearer: owner, body: ["grace_seconds": 3600])
            let newSecret = try #require(rotated.json["secret"]?.stringValue)
            #expect(newSecret != secret && rotated.json["webhook"]?["previous_secret_expires_at"] != .null)
            // Both secrets are kept sealed, so deliveries can carry both signatures during the window.
            let (current, previous, keyID) = try await db.query(
                "SELECT secret_ciphertext, previous_secret_ciphertext, data_key_id FROM webhooks WHERE id = \(UUID(uuidString: id)!)", logger: TestServers.logger
            ).firstRow(decoding: (ByteBuffer, ByteBuffer, UUID).self)!
            let key = try #require(try await PostgresDataKeyRepository(database: Database(client: db, logger: TestServers.logger), keyring: fixture.resources.keyring)
                .key(id: keyID, orgID: fixture.orgID))
            #expect(String(decoding: try key.open(Array(buffer: current), purpose: .webhookSecret), as: UTF8.self) == newSecret)
            #expect(String(decoding: try key.open(Array(buffer: previous), purpose: .webhookSecret), as: UTF8.self) == secret)

            let test = try await client.call(.post, "\(org)/webhooks/\(id)/test", bearer: owner)
            #expect(test.status == .accepted && test.json["event_type"] == "webhook.test" && test.json["status"] == "pending")
            let delivery = fixture.resources.deliveryID.uuidString.lowercased(), fixtureHook = fixture.resources.webhookID.uuidString.lowercased()
            let again = try await client.call(.post, "\(org)/webhooks/\(fixtureHook)/deliveries/\(delivery)/redeliver", bearer: owner)
            #expect(again.status == .accepted && again.json["event_type"] == "run.ended")
            let history = try await client.call(.get, "\(org)/webhooks/\(fixtureHook)/deliveries", bearer: owner)
            #expect(history.json["data"]?[0]?["status"] == "pending" && history.json["data"]?[1]?["status"] == "failed")
        }
    }

    @Test func runsStepsPayloadsApprovalsAndSpend() async throws {
        try await Self.withOrg { client, fixture, db in
            let owner = fixture.owner.session.value, viewer = fixture.viewer.session.value, org = "/api/orgs/\(fixture.orgString)"
            let run = fixture.resources.runID.uuidString.lowercased(), step = fixture.resources.stepID.uuidString.lowercased()
            let runs = try await client.call(.get, "\(org)/runs?status=running&limit=1", bearer: viewer)
            #expect(runs.json["data"]?[0]?["id"]?.stringValue == run && runs.json["next_cursor"] == .null)
            #expect(try await client.call(.get, "\(org)/runs?status=ended", bearer: viewer).json["data"] == [])
            #expect(try await client.call(.get, "\(org)/runs?status=exploded", bearer: viewer).status == .badRequest)
            let steps = try await client.call(.get, "\(org)/runs/\(run)/steps", bearer: viewer)
            #expect(steps.json["data"]?[0]?["usage"]?["output_tokens"] == 7)
            // Payloads: decrypted for members, refused to viewers.
            #expect(try await client.call(.get, "\(org)/runs/\(run)/steps/\(step)/payload", bearer: viewer).status == .forbidden)
            let payload = try await client.call(.get, "\(org)/runs/\(run)/steps/\(step)/payload", bearer: fixture.member.session.value)
            #expect(payload.json["request"]?["model"] == "gpt-4o-mini" && payload.json["response"]?["id"] == "chatcmpl-1")

            // Approvals: decided once, by whom, audited and announced.
            let approval = fixture.resources.approvalID.uuidString.lowercased()
            let pending = try await client.call(.get, "\(org)/approvals?status=pending", bearer: viewer)
            #expect(pending.json["data"]?[0]?["proposed_action"]?["tool"] == "delete_database")
            let noReason = try await client.call(.post, "\(org)/approvals/\(approval)/reject", bearer: fixture.member.session.value, body: [:])
            #expect(noReason.status == .unprocessableContent)
            let rejected = try await client.call(.post, "\(org)/approvals/\(approval)/reject", bearer: fixture.member.session.value,
                                                 body: ["reason": "not on prod"])
            #expect(rejected.json["status"] == "rejected" && rejected.json["decided_by"]?.stringValue == fixture.member.idString)
            let twice = try await client.call(.post, "\(org)/approvals/\(approval)/approve", bearer: owner, body: [:])
            #expect(twice.status == .conflict && twice.errorCode == "approval_closed")
            let event = try await db.query("SELECT payload->>'status' FROM events WHERE type = 'approval.decided' AND org_id = \(fixture.orgID)",
                                           logger: TestServers.logger).first(decoding: String.self)
            #expect(event == "rejected")

            // Spend by model and by agent.
            let byModel = try await client.call(.get, "\(org)/analytics/spend?group_by=model", bearer: viewer)
            #expect(byModel.json["data"]?[0]?["key"] == "gpt-4o-mini" && byModel.json["data"]?[0]?["cost_micros"] == 42)
            let byAgent = try await client.call(.get, "\(org)/analytics/spend?group_by=agent", bearer: viewer)
            #expect(byAgent.json["data"]?[0]?["label"] == "fixture-agent" && byAgent.json["total_cost_micros"] == 42)

            // Cancel: the run ends; cancelling again is a conflict.
            let cancelled = try await client.call(.post, "\(org)/runs/\(run)/cancel", bearer: fixture.admin.session.value)
            #expect(cancelled.json["status"] == "cancelled")
            #expect(try await client.call(.post, "\(org)/runs/\(run)/cancel", bearer: owner).status == .conflict)
            #expect(try await client.call(.get, "\(org)/runs/\(UUID().uuidString)", bearer: owner).status == .notFound)
        }
    }
}

extension GovernanceResourceTests {
    /// Every secret the API hands out is shown once: no later answer, no audit entry and no stored
    /// column other than its hash or ciphertext holds it.
    @Test func secretsAppearOnlyInTheAnswerThatCreatedThem() async throws {
        try await Self.withOrg { client, fixture, db in
            let owner = fixture.owner.session.value, org = "/api/orgs/\(fixture.orgString)"
            let agent = fixture.resources.agentID.uuidString.lowercased()
            var secrets: [String] = []
            func secret(_ answer: APIAnswer, _ path: [String]) throws -> String {
                var value: JSONValue? = answer.json
                for key in path { value = value?[key] }
                return try #require(value?.stringValue, "no \(path) in \(answer.status)")
            }
            secrets.append(try secret(try await client.call(.post, "\(org)/admin-tokens", bearer: owner, body: ["name": "ci", "scopes": ["*"]]), ["token"]))
            let issued = try await client.call(.post, "\(org)/agents/\(agent)/tokens", bearer: owner, body: ["name": "a"])
            secrets.append(try secret(issued, ["token"]))
            let tokenID = try secret(issued, ["agent_token", "id"])
            secrets.append(try secret(try await client.call(.post, "\(org)/agents/\(agent)/tokens/\(tokenID)/rotate", bearer: owner, body: [:]), ["token"]))
            let hook = try await client.call(.post, "\(org)/webhooks", bearer: owner, body: ["url": "https://203.0.113.40/h", "events": ["run.ended"]])
            secrets.append(try secret(hook, ["secret"]))
            let hookID = try secret(hook, ["webhook", "id"])
            secrets.append(try secret(try await client.call(.post, "\(org)/webhooks/\(hookID)/rotate-secret", bearer: owner, body: [:]), ["secret"]))
            secrets.append("sk-provider-secret-0099")
            _ = try await client.call(.post, "\(org)/provider-keys", bearer: owner,
                                      body: ["provider": "anthropic", "name": "claude", "api_key": "sk-provider-secret-0099"])
            secrets.append(try secret(try await client.call(.post, "\(org)/invitations", bearer: owner, body: ["email": "new@example.com", "role": "viewer"]), ["token"]))
            let login = try await client.call(.post, "/api/auth/login", body: ["email": .string(fixture.admin.email), "password": .string(OrgFixture.password)])
            secrets.append(try secret(login, ["token"]))
            secrets.append(OrgFixture.password)

            // Every list and read the org offers, as the owner.
            var seen = ""
            for path in ["", "/members", "/invitations", "/teams", "/admin-tokens", "/agents", "/agents/\(agent)", "/agents/\(agent)/tokens",
                         "/provider-keys", "/policies", "/budgets", "/prices", "/webhooks", "/webhooks/\(hookID)", "/webhooks/\(hookID)/deliveries",
                         "/runs", "/approvals", "/audit-log?limit=200", "/settings"] {
                let answer = try await client.call(.get, org + path, bearer: owner)
                #expect(answer.status == .ok, "\(path)")
                seen += String(describing: answer.json)
            }
            seen += String(describing: try await client.call(.get, "/api/me", bearer: owner).json)
            // Every text a row of the database holds (hashes and ciphertexts are not the secret).
            let stored = try await db.query("SELECT string_agg(row_to_json(x)::text, ' ') FROM org_audit_log x", logger: TestServers.logger)
                .first(decoding: String.self) ?? ""
            let tables = try await db.query(
                """
                SELECT string_agg(t, ' ') FROM (
                  SELECT row_to_json(a)::text t FROM admin_tokens a UNION ALL SELECT row_to_json(b)::text FROM agent_tokens b
                  UNION ALL SELECT row_to_json(c)::text FROM webhooks c UNION ALL SELECT row_to_json(d)::text FROM provider_keys d
                  UNION ALL SELECT row_to_json(e)::text FROM invitations e UNION ALL SELECT row_to_json(f)::text FROM sessions f
                  UNION ALL SELECT row_to_json(g)::text FROM users g) s
                """, logger: TestServers.logger).first(decoding: String.self) ?? ""
            for value in secrets {
                #expect(!seen.contains(value), "a secret (\(value.prefix(8))…) reappeared in an API answer")
                #expect(!stored.contains(value), "a secret (\(value.prefix(8))…) is in the audit log")
                #expect(!tables.contains(value), "a secret (\(value.prefix(8))…) is stored in the clear")
            }
        }
    }
}
