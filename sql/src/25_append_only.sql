-- sql/src/25_append_only.sql -- the append-only guard of job tables and the floor it gives prune()
-- (part of the wal2queue extension script: see 00_install.sql)

/*
 * refuse_update() -- the trigger function of the append-only guard: an
 * UPDATE gives a row version a new xmin, which a slot that never delivered
 * the row may have passed, so prune() would take a job no slot delivered
 * for delivered (THE RULE, point 6).  Fires for a cross-partition move too.
 */
CREATE FUNCTION wal2queue.refuse_update()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'table %.% is append-only: wal2queue job rows are not updated',
        TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'object_not_in_prerequisite_state',
              DETAIL = 'An updated row gets a new xmin, and wal2queue.prune() would take a job no slot delivered for delivered.',
              HINT = 'Insert a new job instead.  To update job rows anyway, drop the trigger wal2queue_append_only; prune() then needs force => true for this table.';
END
$$;

/*
 * append_only(job_table) -- guard JOB_TABLE (and every partition, present
 * and future) against UPDATE with the row trigger wal2queue_append_only,
 * enabled ALWAYS (so session_replication_role = replica does not skip
 * it).  prune() without force requires it.  create_job_table() calls it.
 */
CREATE FUNCTION wal2queue.append_only(job_table regclass)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF job_table IS NULL THEN
        RAISE EXCEPTION 'wal2queue.append_only: job_table must not be null'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- in a subtransaction (the block): the guard's pg_trigger row then
    -- gets an xid above every xid of the calling transaction so far, an
    -- UPDATE made in a subtransaction of it after the guard was disabled
    -- included (guard_floor())
    BEGIN
        IF NOT EXISTS (SELECT FROM pg_trigger t
                        WHERE t.tgrelid = job_table AND t.tgname = 'wal2queue_append_only') THEN
            EXECUTE format('CREATE TRIGGER wal2queue_append_only BEFORE UPDATE ON %s '
                           'FOR EACH ROW EXECUTE FUNCTION wal2queue.refuse_update()', job_table);
        END IF;
        EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER wal2queue_append_only', job_table);
    EXCEPTION WHEN lock_not_available THEN
        RAISE;
    END;
END
$$;

COMMENT ON FUNCTION wal2queue.append_only(regclass) IS
'refuse UPDATE on a job table (and its partitions), as prune() without force requires';

/*
 * guard_events -- the last DDL on a guarded table that could have given
 * its rows an xmin no INSERT wrote, as the xmin of the table's row here
 * (guard_floor() takes it): a rewrite (ALTER TABLE ... ALTER COLUMN ...
 * TYPE, a volatile DEFAULT, SET LOGGED, SET ACCESS METHOD, ALTER TYPE of a
 * typed table: every row gets the ALTER's xid), or an ALTER TABLE in a
 * transaction that changed the guard (an UPDATE in a subtransaction of the
 * transaction that disabled and re-enabled the guard has an xid above the
 * one that re-enabled it).  Written by the event triggers below, each time
 * in a subtransaction of its own, so the row's xmin is an xid assigned
 * after every xid of that transaction so far, the rewrite's included.
 * A table dropped leaves its row; an OID used again only holds prune of
 * the new table's older rows back.
 */
CREATE TABLE wal2queue.guard_events (
    relid oid PRIMARY KEY,
    event text NOT NULL,
    at    timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE wal2queue.guard_events IS
'the last rewrite or guard change of each guarded job table: rows older than a row''s xmin here count as undelivered';

GRANT SELECT ON wal2queue.guard_events TO PUBLIC;

/*
 * guarded_tables(relid) -- RELID and the tables below it (partitions,
 * inheritance children, at any depth) that have the trigger
 * wal2queue_append_only, in whatever state.
 */
CREATE FUNCTION wal2queue.guarded_tables(relid oid)
RETURNS SETOF oid
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE tree(relid) AS (
        SELECT relid
        UNION
        SELECT i.inhrelid FROM pg_inherits i JOIN tree t ON i.inhparent = t.relid
    )
    SELECT t.relid FROM tree t
     WHERE EXISTS (SELECT FROM pg_trigger g
                    WHERE g.tgrelid = t.relid AND g.tgname = 'wal2queue_append_only')
$$;

/*
 * record_guard_event(tables, event) -- move the guard floor of TABLES past
 * every xid the calling transaction has so far: (re)write their rows of
 * guard_events in a subtransaction (the BEGIN ... EXCEPTION block), whose
 * xid is assigned after its parents' and so after the xid a rewrite gave
 * the rows.  Called by the event trigger functions (as their owner).
 */
CREATE FUNCTION wal2queue.record_guard_event(tables oid[], event text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF cardinality(tables) = 0 THEN
        RETURN;
    END IF;
    BEGIN
        INSERT INTO wal2queue.guard_events AS g (relid, event)
        SELECT DISTINCT t.relid, event FROM unnest(tables) AS t(relid)
        ON CONFLICT (relid) DO UPDATE SET event = excluded.event, at = excluded.at;
    EXCEPTION WHEN lock_not_available THEN
        RAISE;      -- the block is there for its subtransaction
    END;
END
$$;

REVOKE EXECUTE ON FUNCTION wal2queue.record_guard_event(oid[], text) FROM PUBLIC;

/*
 * guard_on_rewrite() -- the table_rewrite event trigger: a guarded table
 * is about to be rewritten (PostgreSQL fires it once for each table, each
 * partition of a partitioned table too).
 */
CREATE FUNCTION wal2queue.guard_on_rewrite()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM wal2queue.record_guard_event(
        ARRAY(SELECT wal2queue.guarded_tables(pg_event_trigger_table_rewrite_oid())),
        format('rewrite (%s)', tg_tag));
END
$$;

/*
 * guard_on_alter() -- the ddl_command_end event trigger of ALTER TABLE:
 * for the guarded tables of the altered tree whose guard this transaction
 * changed (its pg_trigger row is not older than the transaction's xid: a
 * later transaction's change committed before the ALTER locked the table
 * counts too, which only holds prune back).
 */
CREATE FUNCTION wal2queue.guard_on_alter()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    own xid8 := pg_current_xact_id_if_assigned();
BEGIN
    IF own IS NULL THEN
        RETURN;     -- the transaction changed nothing
    END IF;
    PERFORM wal2queue.record_guard_event(ARRAY(
        SELECT g.tgrelid
          FROM pg_event_trigger_ddl_commands() c
         CROSS JOIN LATERAL wal2queue.guarded_tables(c.objid) l(relid)
          JOIN pg_trigger g ON g.tgrelid = l.relid AND g.tgname = 'wal2queue_append_only'
         WHERE c.classid = 'pg_class'::regclass
           AND wal2queue.full_xid(g.xmin, own) >= own), 'guard changed');
END
$$;

/*
 * The event triggers, enabled ALWAYS (session_replication_role = replica
 * does not skip them).  Only a superuser may create an event trigger: the
 * standalone script run by another role installs without them, says so
 * with a WARNING, and guard_floor() then takes every change of a guarded
 * table's pg_class row for a rewrite (any ALTER TABLE, GRANT, VACUUM FULL,
 * CLUSTER: rows older than it count as undelivered).
 */
DO $$
BEGIN
    CREATE EVENT TRIGGER wal2queue_guard_rewrite ON table_rewrite
        EXECUTE FUNCTION wal2queue.guard_on_rewrite();
    ALTER EVENT TRIGGER wal2queue_guard_rewrite ENABLE ALWAYS;
    CREATE EVENT TRIGGER wal2queue_guard_alter ON ddl_command_end
        WHEN TAG IN ('ALTER TABLE')
        EXECUTE FUNCTION wal2queue.guard_on_alter();
    ALTER EVENT TRIGGER wal2queue_guard_alter ENABLE ALWAYS;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'could not create the event triggers of wal2queue in database "%": role "%" is not a superuser',
        current_database(), current_user
        USING DETAIL = 'prune() then takes any change of a job table''s pg_class row (ALTER TABLE, GRANT, VACUUM FULL, CLUSTER) for a rewrite: rows written before it count as undelivered and need force => true.',
              HINT = 'Have a superuser run: CREATE EVENT TRIGGER wal2queue_guard_rewrite ON table_rewrite EXECUTE FUNCTION wal2queue.guard_on_rewrite(); ALTER EVENT TRIGGER wal2queue_guard_rewrite ENABLE ALWAYS; CREATE EVENT TRIGGER wal2queue_guard_alter ON ddl_command_end WHEN TAG IN (''ALTER TABLE'') EXECUTE FUNCTION wal2queue.guard_on_alter(); ALTER EVENT TRIGGER wal2queue_guard_alter ENABLE ALWAYS;';
END
$$;

/*
 * guard_watch(reference) -- WATCHED: both event triggers exist, enabled
 * ALWAYS, with their functions; SINCE: the xid of their last change
 * (creation, ENABLE, DISABLE, ...), as xid8.  A rewrite while they were
 * missing or disabled is recorded nowhere: rows older than SINCE count as
 * undelivered.
 */
CREATE FUNCTION wal2queue.guard_watch(reference xid8, OUT watched boolean, OUT since xid8)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT count(*) = 2, max(wal2queue.full_xid(e.xmin, reference))
      FROM pg_event_trigger e
     WHERE (e.evtname, e.evtevent, e.evtfoid) IN
           (('wal2queue_guard_rewrite', 'table_rewrite', 'wal2queue.guard_on_rewrite()'::regprocedure),
            ('wal2queue_guard_alter', 'ddl_command_end', 'wal2queue.guard_on_alter()'::regprocedure))
       AND e.evtenabled = 'A'
$$;

/*
 * guard_floor(leaf, reference) -- the xid below or at which LEAF's rows
 * may have been written by something other than an INSERT, as xid8; NULL
 * if LEAF has no guard enabled ALWAYS.  The largest of: the last change of
 * its guard (its creation, its cloning when the partition was created or
 * attached, an ALTER TABLE ... ENABLE/DISABLE TRIGGER: the xmin of its
 * pg_trigger row); its last rewrite or guard change seen by the event
 * triggers (guard_events); the last change of the event triggers
 * themselves; and without them, the last change of its pg_class row (a
 * rewrite gives the table a new relfilenode, in the rewriting
 * transaction).
 */
CREATE FUNCTION wal2queue.guard_floor(leaf regclass, reference xid8)
RETURNS xid8
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT greatest(wal2queue.full_xid(t.xmin, reference),
                    (SELECT wal2queue.full_xid(g.xmin, reference) FROM wal2queue.guard_events g
                      WHERE g.relid = leaf),
                    CASE WHEN w.watched THEN w.since
                         ELSE (SELECT wal2queue.full_xid(c.xmin, reference) FROM pg_class c
                                WHERE c.oid = leaf) END)
      FROM pg_trigger t, wal2queue.guard_watch(reference) w
     WHERE t.tgrelid = leaf AND t.tgname = 'wal2queue_append_only' AND t.tgenabled = 'A'
       AND t.tgfoid = 'wal2queue.refuse_update()'::regprocedure
$$;
