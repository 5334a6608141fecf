-- Data planes add settled spend to budget_spend in batches. A batch whose write outlived its deadline
-- (a connection dropped by a PostgreSQL outage) is sent again, and may have committed the first time:
-- each batch names itself here in the same statement as its additions, so it counts once. Rows are
-- only markers (no org data) and are pruned after a day by the data planes.
CREATE TABLE budget_spend_batches (
    id uuid PRIMARY KEY,
    written_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX budget_spend_batches_written_at ON budget_spend_batches (written_at);

GRANT SELECT, INSERT, DELETE ON budget_spend_batches TO rungate_data;
