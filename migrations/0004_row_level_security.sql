-- Row-level security: the second lock on org data for the control plane.
--
-- The control plane runs each org-scoped request in a transaction that first sets
-- `rungate.org_id` (set_config(..., true): transaction-local, so a pooled connection never carries
-- it into the next request). Every org-owned table then shows rungate_control only that org's rows,
-- and refuses to write rows of another org, so a query that forgot `WHERE org_id` cannot leak.
-- Listing "my orgs" sets `rungate.user_id` instead, which exposes only the user's own memberships.
--
-- The data plane and the platform service are multi-org by nature (a token hash or a platform
-- operator names the org); for them the grants of 0002 are the boundary and a permissive policy
-- keeps RLS out of their way. Table owners (the migrating role) bypass RLS as usual.

CREATE FUNCTION rungate_current_org() RETURNS uuid
    LANGUAGE sql STABLE
    AS $$ SELECT NULLIF(current_setting('rungate.org_id', true), '')::uuid $$;

CREATE FUNCTION rungate_current_user() RETURNS uuid
    LANGUAGE sql STABLE
    AS $$ SELECT NULLIF(current_setting('rungate.user_id', true), '')::uuid $$;

DO $$
DECLARE
    table_name text;
BEGIN
    FOREACH table_name IN ARRAY ARRAY[
        'org_settings', 'org_data_keys', 'memberships', 'invitations', 'teams', 'team_members',
        'provider_keys', 'policies', 'policy_versions', 'agents', 'agent_tokens', 'admin_tokens',
        'budgets', 'budget_spend', 'runs', 'steps', 'payloads', 'artifacts', 'approvals',
        'webhooks', 'events', 'webhook_deliveries', 'org_audit_log'
    ] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', table_name);
        EXECUTE format(
            'CREATE POLICY control_plane_org_scope ON %I TO rungate_control '
            'USING (org_id = rungate_current_org()) WITH CHECK (org_id = rungate_current_org())', table_name);
        EXECUTE format(
            'CREATE POLICY multi_org_services ON %I TO rungate_data, rungate_platform USING (true) WITH CHECK (true)', table_name);
    END LOOP;
END
$$;

-- Orgs: the current org, and (read-only) the orgs the current user belongs to.
ALTER TABLE orgs ENABLE ROW LEVEL SECURITY;
CREATE POLICY control_plane_org_scope ON orgs TO rungate_control
    USING (id = rungate_current_org()) WITH CHECK (id = rungate_current_org());
CREATE POLICY control_plane_my_orgs ON orgs FOR SELECT TO rungate_control
    USING (EXISTS (SELECT 1 FROM memberships m WHERE m.org_id = orgs.id AND m.user_id = rungate_current_user()));
CREATE POLICY multi_org_services ON orgs TO rungate_data, rungate_platform USING (true) WITH CHECK (true);
CREATE POLICY control_plane_my_memberships ON memberships FOR SELECT TO rungate_control
    USING (user_id = rungate_current_user());

-- Prices: the shipped defaults (org_id NULL) are readable by every org; reads, updates and deletes
-- of anything else, and every write, only touch the org's own rows.
ALTER TABLE prices ENABLE ROW LEVEL SECURITY;
CREATE POLICY control_plane_org_scope ON prices TO rungate_control
    USING (org_id = rungate_current_org()) WITH CHECK (org_id = rungate_current_org());
CREATE POLICY control_plane_default_prices ON prices FOR SELECT TO rungate_control
    USING (org_id IS NULL);
CREATE POLICY multi_org_services ON prices TO rungate_data, rungate_platform USING (true) WITH CHECK (true);

-- MARK: The few questions the control plane must ask before it knows the org. Each is a narrow
-- SECURITY DEFINER function (runs as the owner, so past RLS) answering exactly one question.

-- Which org, user and scopes a live admin token (by hash) belongs to.
CREATE FUNCTION rungate_admin_token_by_hash(p_token_hash text)
    RETURNS TABLE (token_id uuid, org_id uuid, user_id uuid, scopes text[])
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
    AS $$
        SELECT t.id, t.org_id, t.user_id, t.scopes FROM admin_tokens t
        WHERE t.token_hash = p_token_hash AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
    $$;

-- Which org and e-mail a pending invitation (by hash) is for.
CREATE FUNCTION rungate_invitation_by_hash(p_token_hash text)
    RETURNS TABLE (invitation_id uuid, org_id uuid, email text, role text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
    AS $$
        SELECT i.id, i.org_id, i.email, i.role FROM invitations i
        WHERE i.token_hash = p_token_hash AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > now()
    $$;

-- Orgs whose deletion grace window has passed at `p_now`.
CREATE FUNCTION rungate_orgs_due_for_deletion(p_now timestamptz)
    RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
    AS $$ SELECT id FROM orgs WHERE deletion_due_at IS NOT NULL AND deletion_due_at <= p_now ORDER BY deletion_due_at $$;

-- Deletes every row of an org whose deletion is due at `p_now`, the wrapped data key first
-- (crypto-shred: whatever survives in backups stays unreadable). Leaves one platform-audit line
-- that names only the org id. Returns whether the org was purged.
CREATE FUNCTION rungate_purge_org(p_org uuid, p_now timestamptz)
    RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
    AS $$
    BEGIN
        PERFORM 1 FROM orgs WHERE id = p_org AND deletion_due_at IS NOT NULL AND deletion_due_at <= p_now FOR UPDATE;
        IF NOT FOUND THEN
            RETURN false;
        END IF;
        DELETE FROM org_data_keys WHERE org_id = p_org;
        -- Tables without a foreign key to orgs (partitioned or append-only) go explicitly;
        -- everything else cascades from the org row.
        DELETE FROM payloads WHERE org_id = p_org;
        DELETE FROM steps WHERE org_id = p_org;
        DELETE FROM org_audit_log WHERE org_id = p_org;
        DELETE FROM orgs WHERE id = p_org;
        INSERT INTO platform_audit_log (actor_name, action, target_type, target_id)
        VALUES ('system:org-deletion', 'org.purged', 'org', p_org::text);
        RETURN true;
    END
    $$;

REVOKE EXECUTE ON FUNCTION rungate_admin_token_by_hash(text), rungate_invitation_by_hash(text),
    rungate_orgs_due_for_deletion(timestamptz), rungate_purge_org(uuid, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rungate_admin_token_by_hash(text), rungate_invitation_by_hash(text),
    rungate_orgs_due_for_deletion(timestamptz), rungate_purge_org(uuid, timestamptz) TO rungate_control;
