-- Events out: the webhook delivery worker and the run-trace exporter. Both run in the control plane,
-- any number of replicas, across every org — so what they must do across orgs is done by narrow
-- SECURITY DEFINER functions (the control role otherwise sees one org at a time, under RLS).

-- Deliveries are ordered per subscription (created_at, then event id) and leased while in flight.
CREATE INDEX webhook_deliveries_pending_order ON webhook_deliveries (webhook_id, created_at, event_id) WHERE status = 'pending';

-- Runs whose steps are not all exported as trace spans yet.
ALTER TABLE runs ADD COLUMN trace_exported_at timestamptz;
CREATE INDEX runs_trace_pending ON runs (last_step_at) WHERE last_step_at IS DISTINCT FROM trace_exported_at;

-- Fans undispatched events out to every active subscription of their org that names their type,
-- in event order, and marks them dispatched. Replicas skip each other's rows. Returns how many
-- events were dispatched.
CREATE FUNCTION rungate_fan_out_events(p_limit integer)
    RETURNS integer
    LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public
    AS $$
        WITH picked AS (
            SELECT e.id, e.org_id, e.type FROM events e WHERE e.dispatched_at IS NULL ORDER BY e.id LIMIT p_limit FOR UPDATE SKIP LOCKED
        ), queued AS (
            INSERT INTO webhook_deliveries (org_id, webhook_id, event_id)
            SELECT p.org_id, w.id, p.id FROM picked p JOIN webhooks w ON w.org_id = p.org_id AND w.active AND p.type = ANY (w.events)
            RETURNING 1
        ), marked AS (
            UPDATE events e SET dispatched_at = now() FROM picked p WHERE e.id = p.id RETURNING 1
        )
        SELECT count(*)::integer FROM marked
    $$;

-- Claims up to p_limit due deliveries: only the oldest pending delivery of each subscription (so a
-- subscription receives its events in order), leased for p_lease_seconds (a worker that dies lets
-- the lease lapse and another replica retries). Returns what a delivery needs: the event, the
-- subscription's URL and its sealed secrets.
CREATE FUNCTION rungate_claim_deliveries(p_limit integer, p_lease_seconds integer)
    RETURNS TABLE (delivery_id uuid, org_id uuid, webhook_id uuid, attempts integer, first_queued_at timestamptz,
                   event_id bigint, event_type text, event_payload text, event_created_at timestamptz,
                   url text, data_key_id uuid, secret_ciphertext bytea, previous_secret_ciphertext bytea,
                   previous_secret_expires_at timestamptz)
    LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public
    AS $$
        WITH heads AS (
            SELECT DISTINCT ON (d.webhook_id) d.id, d.next_attempt_at FROM webhook_deliveries d
            WHERE d.status = 'pending' ORDER BY d.webhook_id, d.created_at, d.event_id
        ), due AS (
            SELECT d.id FROM webhook_deliveries d JOIN heads h ON h.id = d.id
            WHERE h.next_attempt_at <= now() ORDER BY h.next_attempt_at LIMIT p_limit FOR UPDATE OF d SKIP LOCKED
        ), leased AS (
            UPDATE webhook_deliveries d SET next_attempt_at = now() + make_interval(secs => p_lease_seconds), attempts = d.attempts + 1
            FROM due WHERE d.id = due.id AND d.status = 'pending'
            RETURNING d.id, d.org_id, d.webhook_id, d.attempts, d.created_at, d.event_id
        )
        SELECT l.id, l.org_id, l.webhook_id, l.attempts, l.created_at, e.id, e.type, e.payload::text, e.created_at,
               w.url, w.data_key_id, w.secret_ciphertext, w.previous_secret_ciphertext, w.previous_secret_expires_at
        FROM leased l JOIN events e ON e.id = l.event_id JOIN webhooks w ON w.id = l.webhook_id
    $$;

-- Records one attempt's outcome: 'succeeded', 'failed' (given up), or 'pending' with the next attempt
-- time. Only the attempt that holds the lease (by its number) may record.
CREATE FUNCTION rungate_finish_delivery(p_id uuid, p_attempt integer, p_status text, p_status_code integer, p_error text,
                                        p_next_attempt_at timestamptz)
    RETURNS void
    LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public
    AS $$
        UPDATE webhook_deliveries SET status = p_status, last_status_code = p_status_code, last_error = p_error,
            next_attempt_at = COALESCE(p_next_attempt_at, next_attempt_at),
            delivered_at = CASE WHEN p_status = 'succeeded' THEN now() ELSE delivered_at END
        WHERE id = p_id AND status = 'pending' AND attempts = p_attempt
    $$;

-- How many deliveries wait (for the queue-depth gauge).
CREATE FUNCTION rungate_pending_deliveries()
    RETURNS bigint
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
    AS $$ SELECT count(*) FROM webhook_deliveries WHERE status = 'pending' $$;

-- Claims up to p_limit runs with steps not yet exported as spans: ended or cancelled runs at once,
-- running ones once idle for p_idle_seconds. The watermark moves to the run's last step (so other
-- replicas skip it); the previous watermark is returned: steps after it are the ones to export.
CREATE FUNCTION rungate_claim_runs_for_trace(p_limit integer, p_idle_seconds integer)
    RETURNS TABLE (run_id uuid, org_id uuid, previous_watermark timestamptz, watermark timestamptz)
    LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public
    AS $$
        WITH due AS (
            SELECT r.id, r.trace_exported_at AS previous FROM runs r
            WHERE r.last_step_at IS DISTINCT FROM r.trace_exported_at
              AND (r.status <> 'running' OR r.last_step_at < now() - make_interval(secs => p_idle_seconds))
            ORDER BY r.last_step_at LIMIT p_limit FOR UPDATE SKIP LOCKED
        )
        UPDATE runs r SET trace_exported_at = r.last_step_at FROM due WHERE r.id = due.id
        RETURNING r.id, r.org_id, due.previous, r.trace_exported_at
    $$;

-- Sets a run's trace watermark back (an export that failed, or stopped at its step limit).
CREATE FUNCTION rungate_set_trace_watermark(p_run uuid, p_watermark timestamptz)
    RETURNS void
    LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public
    AS $$ UPDATE runs SET trace_exported_at = p_watermark WHERE id = p_run $$;

REVOKE EXECUTE ON FUNCTION rungate_fan_out_events(integer), rungate_claim_deliveries(integer, integer),
    rungate_finish_delivery(uuid, integer, text, integer, text, timestamptz), rungate_pending_deliveries(),
    rungate_claim_runs_for_trace(integer, integer), rungate_set_trace_watermark(uuid, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rungate_fan_out_events(integer), rungate_claim_deliveries(integer, integer),
    rungate_finish_delivery(uuid, integer, text, integer, text, timestamptz), rungate_pending_deliveries(),
    rungate_claim_runs_for_trace(integer, integer), rungate_set_trace_watermark(uuid, timestamptz) TO rungate_control;
