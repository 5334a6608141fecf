-- The three database roles. Each process logs in as (a member of) one of them; the grants here are
-- the real boundary. Roles are cluster-wide, so they are created only when missing; the deployment
-- gives them LOGIN and a password (scripts/up, compose.yaml), never this file.

-- Roles are cluster-wide and the advisory lock is per database: two databases migrating at once
-- (tests do) may both try to create a role, so losing that race is not an error.
DO $$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['rungate_control', 'rungate_data', 'rungate_platform'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END;
        END IF;
    END LOOP;
END
$$;

GRANT USAGE ON SCHEMA public TO rungate_control, rungate_data, rungate_platform;
GRANT SELECT ON schema_migrations TO rungate_control, rungate_data, rungate_platform;

-- MARK: Control plane: the org-facing API. Reads and writes org data (row-level security narrows
-- it to the request's org); never platform credentials.
GRANT SELECT, INSERT, UPDATE, DELETE ON
    orgs, org_settings, org_data_keys, users, sessions, memberships, invitations, teams, team_members,
    provider_keys, policies, policy_versions, agents, agent_tokens, admin_tokens, budgets, budget_spend,
    prices, runs, steps, payloads, artifacts, approvals, webhooks, events, webhook_deliveries
TO rungate_control;
GRANT SELECT, INSERT ON org_audit_log TO rungate_control;
GRANT USAGE ON SEQUENCE events_id_seq, org_audit_log_id_seq TO rungate_control;

-- MARK: Data plane: reads what enforcement needs, writes runs, steps, payloads, artifacts,
-- approvals, spend and events.
GRANT SELECT ON
    orgs, org_settings, org_data_keys, teams, provider_keys, policies, policy_versions, agents,
    budgets, prices, webhooks
TO rungate_data;
GRANT SELECT, UPDATE (last_used_at) ON agent_tokens TO rungate_data;
GRANT SELECT, INSERT, UPDATE ON runs, approvals, budget_spend TO rungate_data;
GRANT SELECT, INSERT ON steps, payloads, artifacts, events TO rungate_data;
GRANT INSERT ON org_audit_log TO rungate_data;
GRANT USAGE ON SEQUENCE events_id_seq, org_audit_log_id_seq TO rungate_data;

-- MARK: Platform admin: accounts, users, platform tokens, audit logs. Nothing at all on runs,
-- steps, payloads, artifacts, approvals, provider keys or data keys: a stolen platform credential
-- cannot read customer run data, because the database refuses.
GRANT SELECT, INSERT, UPDATE ON orgs, org_settings, users, platform_tokens TO rungate_platform;
GRANT SELECT, INSERT ON memberships, invitations TO rungate_platform;
GRANT SELECT ON org_audit_log TO rungate_platform;
-- Append-only: no UPDATE or DELETE on its own audit trail.
GRANT SELECT, INSERT ON platform_audit_log TO rungate_platform;
GRANT USAGE ON SEQUENCE platform_audit_log_id_seq TO rungate_platform;
REVOKE ALL ON runs, steps, payloads, artifacts, approvals, provider_keys, org_data_keys FROM rungate_platform;

-- Partitions created later by the maintenance job are reached through their parent, whose grants
-- apply; direct access to a partition needs its own grant, which no role gets.
