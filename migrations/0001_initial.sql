-- Rungate initial schema. Every org-owned row carries org_id. Money is integer micro-dollars.
-- Steps and payloads are partitioned by month so retention drops whole partitions.

-- MARK: Orgs and their keys

CREATE TABLE orgs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    plan text NOT NULL DEFAULT 'free',
    limits jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- Deletion: requested, then due 24 hours later; a background job cascades and crypto-shreds.
    deletion_requested_at timestamptz,
    deletion_due_at timestamptz
);
CREATE INDEX orgs_deletion_due ON orgs (deletion_due_at) WHERE deletion_due_at IS NOT NULL;

CREATE TABLE org_settings (
    org_id uuid PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
    retention_days integer NOT NULL DEFAULT 30 CHECK (retention_days BETWEEN 1 AND 3650),
    store_payloads boolean NOT NULL DEFAULT true,
    alert_threshold_percent integer NOT NULL DEFAULT 80 CHECK (alert_threshold_percent BETWEEN 1 AND 100),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Each org's data key, wrapped by a master key (RUNGATE_MASTER_KEY). Deleting the row crypto-shreds
-- everything encrypted under it.
CREATE TABLE org_data_keys (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    master_key_id text NOT NULL,
    wrapped_key bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    retired_at timestamptz
);
CREATE UNIQUE INDEX org_data_keys_one_active ON org_data_keys (org_id) WHERE retired_at IS NULL;

-- MARK: People

CREATE TABLE users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email text NOT NULL CHECK (email = lower(email) AND position('@' IN email) > 1),
    display_name text,
    password_hash text NOT NULL,
    disabled_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email ON users (email);

CREATE TABLE sessions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    origin_ip text,
    user_agent text
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE memberships (
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE invitations (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    email text NOT NULL,
    role text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    token_hash text NOT NULL UNIQUE,
    invited_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    accepted_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX invitations_org ON invitations (org_id);

CREATE TABLE teams (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, name),
    UNIQUE (org_id, id)
);

CREATE TABLE team_members (
    org_id uuid NOT NULL,
    team_id uuid NOT NULL,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, user_id),
    FOREIGN KEY (org_id, team_id) REFERENCES teams (org_id, id) ON DELETE CASCADE
);

-- MARK: Provider keys and policies

CREATE TABLE provider_keys (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    provider text NOT NULL CHECK (provider IN ('openai', 'anthropic', 'openai_compatible')),
    name text NOT NULL,
    base_url text,
    data_key_id uuid NOT NULL,
    ciphertext bytea NOT NULL,
    fingerprint text NOT NULL,
    last_four text NOT NULL,
    is_default boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, name),
    UNIQUE (org_id, id)
);

CREATE TABLE policies (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_.-]{0,99}$'),
    description text,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, name),
    UNIQUE (org_id, id)
);

CREATE TABLE policy_versions (
    org_id uuid NOT NULL,
    policy_id uuid NOT NULL,
    version integer NOT NULL CHECK (version >= 1),
    rules jsonb NOT NULL,
    created_by uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (policy_id, version),
    FOREIGN KEY (org_id, policy_id) REFERENCES policies (org_id, id) ON DELETE CASCADE
);

-- A published version is immutable: the database refuses updates, not just the API.
CREATE FUNCTION rungate_refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are immutable', TG_TABLE_NAME USING ERRCODE = 'check_violation';
END;
$$;
CREATE TRIGGER policy_versions_immutable BEFORE UPDATE ON policy_versions
    FOR EACH ROW EXECUTE FUNCTION rungate_refuse_update();

-- MARK: Agents and tokens

CREATE TABLE agents (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    team_id uuid,
    name text NOT NULL,
    description text,
    policy_id uuid,
    policy_version integer,
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, name),
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, team_id) REFERENCES teams (org_id, id),
    FOREIGN KEY (policy_id, policy_version) REFERENCES policy_versions (policy_id, version)
);

CREATE TABLE agent_tokens (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id uuid NOT NULL,
    agent_id uuid NOT NULL,
    token_hash text NOT NULL UNIQUE,
    display_prefix text NOT NULL,
    name text,
    created_by uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    expires_at timestamptz,
    revoked_at timestamptz,
    FOREIGN KEY (org_id, agent_id) REFERENCES agents (org_id, id) ON DELETE CASCADE
);
CREATE INDEX agent_tokens_agent ON agent_tokens (agent_id);

CREATE TABLE admin_tokens (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash text NOT NULL UNIQUE,
    display_prefix text NOT NULL,
    name text NOT NULL,
    scopes text[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    expires_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX admin_tokens_org ON admin_tokens (org_id);

-- Platform staff credentials: not org-owned.
CREATE TABLE platform_tokens (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL,
    token_hash text NOT NULL UNIQUE,
    display_prefix text NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    expires_at timestamptz,
    revoked_at timestamptz
);

-- MARK: Budgets and prices

CREATE TABLE budgets (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    -- scope 'run' is the default cap of every run of the org (scope_id NULL) or of one agent's runs.
    scope text NOT NULL CHECK (scope IN ('org', 'team', 'agent', 'run')),
    scope_id uuid,
    period text NOT NULL CHECK (period IN ('run', 'day', 'month')),
    cap_micros bigint NOT NULL CHECK (cap_micros >= 0),
    alert_threshold_percent integer NOT NULL DEFAULT 80 CHECK (alert_threshold_percent BETWEEN 1 AND 100),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX budgets_scope ON budgets (org_id, scope, COALESCE(scope_id, '00000000-0000-0000-0000-000000000000'::uuid), period);

-- Durable spend per budget and period; Redis holds the hot counters.
CREATE TABLE budget_spend (
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    budget_id uuid NOT NULL REFERENCES budgets (id) ON DELETE CASCADE,
    period_start timestamptz NOT NULL,
    spent_micros bigint NOT NULL DEFAULT 0,
    threshold_alerted_at timestamptz,
    exceeded_alerted_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (budget_id, period_start)
);

-- Per-million-token prices in micro-dollars. org_id NULL rows are the shipped defaults.
CREATE TABLE prices (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id uuid REFERENCES orgs (id) ON DELETE CASCADE,
    provider text NOT NULL,
    model text NOT NULL,
    input_micros_per_mtok bigint NOT NULL CHECK (input_micros_per_mtok >= 0),
    output_micros_per_mtok bigint NOT NULL CHECK (output_micros_per_mtok >= 0),
    cached_input_micros_per_mtok bigint NOT NULL CHECK (cached_input_micros_per_mtok >= 0),
    max_output_tokens integer,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX prices_model ON prices (COALESCE(org_id, '00000000-0000-0000-0000-000000000000'::uuid), provider, model);

-- MARK: Runs, steps, payloads, artifacts

CREATE TABLE runs (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL,
    agent_id uuid NOT NULL,
    status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'ended', 'cancelled')),
    policy_id uuid,
    policy_version integer,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    started_at timestamptz NOT NULL DEFAULT now(),
    ended_at timestamptz,
    step_count integer NOT NULL DEFAULT 0,
    input_tokens bigint NOT NULL DEFAULT 0,
    output_tokens bigint NOT NULL DEFAULT 0,
    cost_micros bigint NOT NULL DEFAULT 0,
    last_step_at timestamptz,
    FOREIGN KEY (org_id, agent_id) REFERENCES agents (org_id, id) ON DELETE CASCADE
);
CREATE INDEX runs_org_started ON runs (org_id, started_at DESC, id DESC);
CREATE INDEX runs_agent_started ON runs (agent_id, started_at DESC);

CREATE TABLE steps (
    id uuid NOT NULL,
    org_id uuid NOT NULL,
    run_id uuid NOT NULL,
    created_at timestamptz NOT NULL,
    kind text NOT NULL CHECK (kind IN ('model_call', 'tool_call', 'retry', 'approval', 'block')),
    endpoint text,
    provider text,
    model text,
    status text NOT NULL,
    http_status integer,
    input_tokens integer NOT NULL DEFAULT 0,
    output_tokens integer NOT NULL DEFAULT 0,
    cached_tokens integer NOT NULL DEFAULT 0,
    cost_micros bigint NOT NULL DEFAULT 0,
    latency_ms integer,
    ttft_ms integer,
    rule text,
    policy_version integer,
    error_code text,
    request_fingerprint text,
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE INDEX steps_run ON steps (run_id, created_at);
CREATE INDEX steps_org_created ON steps (org_id, created_at);

CREATE TABLE payloads (
    step_id uuid NOT NULL,
    org_id uuid NOT NULL,
    run_id uuid NOT NULL,
    created_at timestamptz NOT NULL,
    data_key_id uuid NOT NULL,
    request_ciphertext bytea,
    response_ciphertext bytea,
    PRIMARY KEY (step_id, created_at)
) PARTITION BY RANGE (created_at);
CREATE INDEX payloads_run ON payloads (run_id);

CREATE TABLE artifacts (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id uuid NOT NULL,
    run_id uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    name text NOT NULL,
    media_type text NOT NULL,
    size_bytes integer NOT NULL,
    sha256 text NOT NULL,
    data_key_id uuid NOT NULL,
    ciphertext bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX artifacts_run ON artifacts (run_id);

-- Monthly partitions for steps and payloads; a maintenance job keeps months ahead created, and the
-- DEFAULT partition catches rows should it ever fall behind (nothing is lost).
CREATE FUNCTION rungate_ensure_monthly_partitions(parent text, months_back integer, months_ahead integer)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    month date;
    partition_name text;
BEGIN
    FOR offset_months IN -months_back..months_ahead LOOP
        month := (date_trunc('month', now()) + make_interval(months => offset_months))::date;
        partition_name := format('%s_%s', parent, to_char(month, 'YYYY_MM'));
        IF to_regclass(partition_name) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                           partition_name, parent, month, (month + interval '1 month')::date);
        END IF;
    END LOOP;
END;
$$;
CREATE TABLE steps_default PARTITION OF steps DEFAULT;
CREATE TABLE payloads_default PARTITION OF payloads DEFAULT;
SELECT rungate_ensure_monthly_partitions('steps', 1, 3);
SELECT rungate_ensure_monthly_partitions('payloads', 1, 3);

-- MARK: Approvals

CREATE TABLE approvals (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id uuid NOT NULL,
    run_id uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    agent_id uuid NOT NULL,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected', 'expired', 'consumed')),
    rule text NOT NULL,
    policy_id uuid,
    policy_version integer,
    body_digest text NOT NULL,
    proposed_action jsonb NOT NULL,
    data_key_id uuid,
    held_response_ciphertext bytea,
    reason text,
    decided_by uuid,
    decided_at timestamptz,
    expires_at timestamptz NOT NULL,
    consumed_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX approvals_org_status ON approvals (org_id, status, created_at DESC);
CREATE INDEX approvals_run_digest ON approvals (run_id, body_digest);

-- MARK: Webhooks and the event outbox

CREATE TABLE webhooks (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    url text NOT NULL,
    events text[] NOT NULL,
    description text,
    data_key_id uuid NOT NULL,
    secret_ciphertext bytea NOT NULL,
    previous_secret_ciphertext bytea,
    previous_secret_expires_at timestamptz,
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_org ON webhooks (org_id);

-- Events are written in the same transaction as the change that caused them.
CREATE TABLE events (
    id bigserial PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    type text NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    dispatched_at timestamptz
);
CREATE INDEX events_undispatched ON events (id) WHERE dispatched_at IS NULL;

CREATE TABLE webhook_deliveries (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id uuid NOT NULL,
    webhook_id uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_status_code integer,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, created_at DESC);

-- MARK: Audit logs

CREATE TABLE org_audit_log (
    id bigserial PRIMARY KEY,
    org_id uuid NOT NULL,
    actor_type text NOT NULL CHECK (actor_type IN ('user', 'admin_token', 'agent', 'platform', 'system')),
    actor_id text,
    origin_ip text,
    user_agent text,
    action text NOT NULL,
    target_type text,
    target_id text,
    before jsonb,
    after jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX org_audit_log_org ON org_audit_log (org_id, id DESC);

CREATE TABLE platform_audit_log (
    id bigserial PRIMARY KEY,
    actor_token_id uuid,
    actor_name text,
    origin_ip text,
    user_agent text,
    action text NOT NULL,
    target_type text,
    target_id text,
    before jsonb,
    after jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX platform_audit_log_created ON platform_audit_log (id DESC);
