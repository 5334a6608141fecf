-- Data planes keep the runs calls attach to in memory, so a call on a known run needs no database
-- round trip. A run's state changing (an agent ending it, a person cancelling it) tells every
-- replica at once, on the same channel as the other cache invalidations, when the change commits.
CREATE FUNCTION rungate_notify_run_state() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
        BEGIN
            PERFORM pg_notify('rungate_invalidate', 'run:' || NEW.id::text);
            RETURN NULL;
        END
    $$;

CREATE TRIGGER runs_state_changed
    AFTER UPDATE OF status ON runs
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION rungate_notify_run_state();
