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
 * guard_triggers(relid) -- the triggers of RELID that run refuse_update(),
 * whatever their name (a guard renamed is still the guard), with their row
 * version (xmin, ctid: any change of the trigger writes a new one) and
 * whether it is COMPLETE: BEFORE, FOR EACH ROW, on UPDATE, of every column
 * (no UPDATE OF list), without WHEN, enabled ALWAYS (so
 * session_replication_role = replica does not skip it).  Only a complete
 * guard refuses every UPDATE.
 */
CREATE FUNCTION wal2queue.guard_triggers(relid oid, OUT tgoid oid, OUT version text,
                                         OUT complete boolean)
RETURNS SETOF record
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    -- tgtype bits: ROW 1, BEFORE 2, UPDATE 16, INSTEAD 64
    SELECT t.oid, t.xmin::text || t.ctid::text,
           t.tgenabled = 'A' AND (t.tgtype::integer & 83) = 19
           AND cardinality(t.tgattr::int2[]) = 0 AND t.tgqual IS NULL
      FROM pg_trigger t
     WHERE t.tgrelid = relid AND t.tgfoid = 'wal2queue.refuse_update()'::regprocedure
$$;

/*
 * guard_state(leaf) -- what the guard floor of LEAF vouches for: its file
 * (relfilenode: a rewrite, VACUUM FULL, CLUSTER and TRUNCATE give the
 * table a new one), the row versions of its guard triggers, the row
 * version of refuse_update() itself, and what its rows' text depends on
 * (text_shape(): columns, enum labels).  Any change of these, by any means
 * (single-user mode, event triggers disabled, a transaction that took its
 * xid early), makes the state differ from the one recorded in
 * guard_events, and the floor unknown (guard_floor()).
 */
CREATE FUNCTION wal2queue.guard_state(leaf oid)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('file %s function %s guards %s %s', c.relfilenode, p.xmin::text || p.ctid::text,
                  coalesce((SELECT string_agg(g.tgoid::text || '@' || g.version, ',' ORDER BY g.tgoid)
                              FROM wal2queue.guard_triggers(leaf::oid) g), 'none'),
                  wal2queue.text_shape(leaf::oid))
      FROM pg_class c, pg_proc p
     WHERE c.oid = leaf AND p.oid = 'wal2queue.refuse_update()'::regprocedure
$$;

/*
 * guard_events -- insert-only: each row records the guard state of a
 * guarded table (guard_state()) as of a moment after a change of it (the
 * guard set, enabled, disabled, replaced or renamed; a rewrite; a
 * partition created or attached).  It is written in a subtransaction of
 * its own, whose xid is assigned after the state was read, and so after
 * the xid of every transaction whose change that state shows (committed
 * before, or the recording transaction and its subtransactions so far);
 * for a table created by the recording command itself, with that
 * command's xid (record_guard_state()): guard_floor() takes the row's
 * xmin as the floor.  Insert-only, so a
 * REPEATABLE READ or SERIALIZABLE transaction that records never fails on
 * a row another transaction wrote after its snapshot; older rows of a
 * table are deleted by a later recording in READ COMMITTED.  A table
 * dropped leaves its rows; a table that gets its OID again has other
 * guard triggers, so another state.
 */
CREATE TABLE wal2queue.guard_events (
    relid oid NOT NULL,
    seq   bigint GENERATED ALWAYS AS IDENTITY,
    state text NOT NULL,
    event text NOT NULL,
    at    timestamptz NOT NULL DEFAULT pg_catalog.now()
);

CREATE INDEX guard_events_relid_seq ON wal2queue.guard_events (relid, seq);

COMMENT ON TABLE wal2queue.guard_events IS
'the guard state of each guarded job table as recorded after each change: rows older than the last record''s xmin count as undelivered';

GRANT SELECT ON wal2queue.guard_events TO PUBLIC;

/*
 * guarded_tables(relid) -- RELID and the tables below it (partitions,
 * inheritance children, at any depth) that have a trigger running
 * refuse_update(), in whatever state.
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
                    WHERE g.tgrelid = t.relid
                      AND g.tgfoid = 'wal2queue.refuse_update()'::regprocedure)
$$;

/*
 * record_guard_state(tables, event) -- record in guard_events the guard
 * state of those of TABLES whose state differs from the last one recorded,
 * all in ONE subtransaction (the BEGIN ... EXCEPTION block), entered after
 * the states were read: its xid is assigned after every xid of the calling
 * transaction so far (a rewrite's, an UPDATE's in a savepoint) and after
 * the xid of every transaction whose committed change the states show.
 * Returns how many tables it recorded.  Internal: the event trigger
 * functions and record_guard() call it.
 * CREATED: TABLES were all created by the calling command, in the current
 * (sub)transaction: no other transaction saw them and they hold no row
 * older than that xid, so the record takes the current xid (no
 * subtransaction: creating 100 partitions in one transaction must not
 * overflow the subxid cache either).
 */
CREATE FUNCTION wal2queue.record_guard_state(tables oid[], event text, created boolean DEFAULT false)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    changed oid[];
    states text[];
BEGIN
    SELECT array_agg(c.relid ORDER BY c.relid), array_agg(c.state ORDER BY c.relid)
      INTO changed, states
      FROM (SELECT t.relid, wal2queue.guard_state(t.relid::oid) AS state
              FROM (SELECT DISTINCT u.relid FROM unnest(tables) AS u(relid)) t) c
     WHERE c.state IS NOT NULL
       AND c.state IS DISTINCT FROM (SELECT g.state FROM wal2queue.guard_events g
                                      WHERE g.relid = c.relid ORDER BY g.seq DESC LIMIT 1);
    IF changed IS NULL THEN
        RETURN 0;
    ELSIF created THEN
        INSERT INTO wal2queue.guard_events (relid, state, event)
        SELECT u.relid, u.state, event FROM unnest(changed, states) AS u(relid, state);
        RETURN cardinality(changed);
    END IF;
    BEGIN
        INSERT INTO wal2queue.guard_events (relid, state, event)
        SELECT u.relid, u.state, event FROM unnest(changed, states) AS u(relid, state);
        -- the rows before (their xids are below this one): only in READ
        -- COMMITTED, where a row deleted meanwhile is skipped, not an error
        IF current_setting('transaction_isolation') = 'read committed' THEN
            DELETE FROM wal2queue.guard_events g
             WHERE g.relid = ANY (changed)
               AND g.seq < (SELECT max(h.seq) FROM wal2queue.guard_events h WHERE h.relid = g.relid);
        END IF;
    EXCEPTION WHEN lock_not_available THEN
        RAISE;      -- the block is there for its subtransaction
    END;
    RETURN cardinality(changed);
END
$$;

REVOKE EXECUTE ON FUNCTION wal2queue.record_guard_state(oid[], text, boolean) FROM PUBLIC;

/*
 * record_guard(job_table, event, tables) -- record the guard state of
 * JOB_TABLE and the guarded tables below it (record_guard_state()), or of
 * those of them in TABLES, for a caller whose login role is a member of the
 * table's owner: append_only() and create_partitions() call it, so that a
 * server without the event triggers (the standalone script run by a role
 * that is not a superuser) knows the guards they set.
 */
CREATE FUNCTION wal2queue.record_guard(job_table regclass, event text, tables regclass[] DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF job_table IS NULL OR event IS NULL THEN
        RAISE EXCEPTION 'wal2queue.record_guard: job_table and event must not be null'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT (SELECT pg_has_role(session_user, c.relowner, 'MEMBER') FROM pg_class c
             WHERE c.oid = job_table) THEN
        RAISE EXCEPTION 'wal2queue.record_guard: role "%" does not own table %', session_user, job_table
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- every internal call with arguments of the exact parameter types, all
    -- given (no default, no implicit cast): no function another role
    -- creates in schema wal2queue matches better (test/t/368)
    RETURN wal2queue.record_guard_state(ARRAY(
        SELECT g.relid FROM wal2queue.guarded_tables(job_table::oid) g(relid)
         WHERE tables IS NULL OR g.relid = ANY (tables::oid[]))::oid[], event::text, false);
END
$$;

/*
 * append_only(job_table) -- guard JOB_TABLE (and every partition, present
 * and future) against UPDATE with the row trigger wal2queue_append_only,
 * complete (guard_triggers()) and enabled ALWAYS: a trigger of that name
 * that is not complete (BEFORE UPDATE OF a column, a WHEN) is replaced.
 * Then records the guard (record_guard()), after the ALTER TABLE took its
 * lock (so after every UPDATE made while the guard was off ended), unless
 * nothing changed since the last record: rows written before the record
 * count as undelivered.  prune() without force requires it.
 * create_job_table() calls it.
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
    IF NOT EXISTS (SELECT FROM pg_trigger t JOIN wal2queue.guard_triggers(job_table::oid) g ON g.tgoid = t.oid
                    WHERE t.tgname = 'wal2queue_append_only'
                      AND (t.tgtype::integer & 83) = 19
                      AND cardinality(t.tgattr::int2[]) = 0 AND t.tgqual IS NULL) THEN
        EXECUTE format('CREATE OR REPLACE TRIGGER wal2queue_append_only BEFORE UPDATE ON %s '
                       'FOR EACH ROW EXECUTE FUNCTION wal2queue.refuse_update()', job_table);
    END IF;
    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER wal2queue_append_only', job_table);
    PERFORM wal2queue.record_guard(job_table::regclass, 'append_only()'::text, NULL::regclass[]);
END
$$;

COMMENT ON FUNCTION wal2queue.append_only(regclass) IS
'refuse UPDATE on a job table (and its partitions), as prune() without force requires';

/*
 * guard_rewrites -- the tables a command rewrote, from guard_on_rewrite()
 * to guard_on_alter(): a row for each, with the backend and the
 * transaction that rewrote it.  Only the extension's owner may write it
 * (both event trigger functions are SECURITY DEFINER), so no role can make
 * guard_on_alter() record a table it did not rewrite (test/t/344; a
 * session setting, which any role may SET, was the channel before).  A row
 * of a rewrite rolled back goes with it; a row of another transaction of
 * the same backend (the ddl_command_end trigger disabled while the rewrite
 * trigger was not) is ignored and deleted.  Unlogged: nothing to keep over
 * a crash, and never decoded.
 */
CREATE UNLOGGED TABLE wal2queue.guard_rewrites (
    pid   integer NOT NULL,
    xid   xid8 NOT NULL,
    relid oid NOT NULL
);

CREATE INDEX guard_rewrites_pid ON wal2queue.guard_rewrites (pid);

REVOKE ALL ON wal2queue.guard_rewrites FROM PUBLIC;

/*
 * guard_on_rewrite() -- the table_rewrite event trigger: remember the
 * table about to be rewritten (PostgreSQL fires it once for each table,
 * each partition of a partitioned table too) in guard_rewrites, for this
 * backend and transaction; guard_on_alter() records it once the command
 * ended.  One subtransaction for the whole command, not one per partition
 * (more than 64 subtransaction xids overflow the backend's subxid cache):
 * the INSERT runs in the rewriting (sub)transaction, whose xid the rewrite
 * already took.
 */
CREATE FUNCTION wal2queue.guard_on_rewrite()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO wal2queue.guard_rewrites (pid, xid, relid)
    VALUES (pg_backend_pid(), pg_current_xact_id(), pg_event_trigger_table_rewrite_oid());
END
$$;

/*
 * taken_rewrites() -- the tables guard_on_rewrite() saw rewritten in this
 * transaction (NULL if none), deleting this backend's rows: those of this
 * transaction, now taken, and any a transaction before it left.
 */
CREATE FUNCTION wal2queue.taken_rewrites()
RETURNS oid[]
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rewritten oid[];
BEGIN
    IF NOT EXISTS (SELECT FROM wal2queue.guard_rewrites r WHERE r.pid = pg_backend_pid()) THEN
        RETURN NULL;
    END IF;
    SELECT array_agg(DISTINCT r.relid) INTO rewritten
      FROM wal2queue.guard_rewrites r
     WHERE r.pid = pg_backend_pid() AND r.xid = pg_current_xact_id_if_assigned();
    DELETE FROM wal2queue.guard_rewrites r WHERE r.pid = pg_backend_pid();
    RETURN rewritten;
END
$$;

REVOKE EXECUTE ON FUNCTION wal2queue.taken_rewrites() FROM PUBLIC;

/*
 * guard_on_alter() -- the ddl_command_end event trigger of the commands that
 * can change a guard or a table's file (ALTER TABLE, ALTER TYPE of a typed
 * table, CREATE TABLE ... PARTITION OF, CREATE, ALTER TRIGGER): records
 * the guard state of the guarded tables of the objects the command touched
 * and of the tables it rewrote (taken_rewrites()), where it changed
 * (record_guard_state(): one subtransaction, xid above the command's; for
 * the tables a CREATE TABLE created, the command's own xid).  No session
 * setting is read: what a role may SET does not choose what is recorded.
 */
CREATE FUNCTION wal2queue.guard_on_alter()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rewritten oid[] := wal2queue.taken_rewrites();
    typed oid[];
BEGIN
    -- ALTER TYPE of an enum or composite a job table uses (text_shape())
    IF EXISTS (SELECT FROM pg_event_trigger_ddl_commands() c
                WHERE c.classid = 'pg_type'::regclass
                   OR (c.classid = 'pg_class'::regclass
                       AND EXISTS (SELECT FROM pg_class k WHERE k.oid = c.objid AND k.relkind = 'c'))) THEN
        typed := wal2queue.lock_shape_changed();
    END IF;
    IF tg_tag = 'CREATE TABLE' AND rewritten IS NULL THEN
        PERFORM wal2queue.record_guard_state(ARRAY(
            SELECT l.relid FROM pg_event_trigger_ddl_commands() c
             CROSS JOIN LATERAL wal2queue.guarded_tables(c.objid::oid) l(relid)
             WHERE c.classid = 'pg_class'::regclass AND l.relid = c.objid)::oid[], tg_tag::text, true);
        RETURN;
    END IF;
    PERFORM wal2queue.record_guard_state(ARRAY(
        SELECT l.relid
          FROM (SELECT c.objid AS relid FROM pg_event_trigger_ddl_commands() c
                 WHERE c.classid = 'pg_class'::regclass
                UNION
                SELECT t.tgrelid FROM pg_event_trigger_ddl_commands() c
                  JOIN pg_trigger t ON t.oid = c.objid
                 WHERE c.classid = 'pg_trigger'::regclass
                UNION
                SELECT r FROM unnest(rewritten) r
                UNION
                SELECT r FROM unnest(typed) r) o
         CROSS JOIN LATERAL wal2queue.guarded_tables(o.relid::oid) l(relid))::oid[],
        (tg_tag || CASE WHEN rewritten IS NOT NULL THEN ' (rewrite)' ELSE '' END)::text, false);
END
$$;

/*
 * The event triggers, enabled ALWAYS (session_replication_role = replica
 * does not skip them).  Only a superuser may create an event trigger: the
 * standalone script run by another role installs without them and says so
 * with a WARNING.  Without them (and in single-user mode, where they do not
 * fire) a change of a guard or a rewrite is recorded nowhere: the guard
 * state then differs from the last one recorded and prune() deletes
 * nothing from that table until append_only() is run again.
 */
DO $$
BEGIN
    CREATE EVENT TRIGGER wal2queue_guard_rewrite ON table_rewrite
        EXECUTE FUNCTION wal2queue.guard_on_rewrite();
    ALTER EVENT TRIGGER wal2queue_guard_rewrite ENABLE ALWAYS;
    CREATE EVENT TRIGGER wal2queue_guard_alter ON ddl_command_end
        WHEN TAG IN ('ALTER TABLE', 'ALTER TYPE', 'CREATE TABLE', 'CREATE TRIGGER', 'ALTER TRIGGER')
        EXECUTE FUNCTION wal2queue.guard_on_alter();
    ALTER EVENT TRIGGER wal2queue_guard_alter ENABLE ALWAYS;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'could not create the event triggers of wal2queue in database "%": role "%" is not a superuser',
        current_database(), current_user
        USING DETAIL = 'prune() then deletes nothing from a job table whose guard or file changed (ALTER TABLE ... ENABLE or DISABLE TRIGGER, a rewrite, VACUUM FULL, CLUSTER, TRUNCATE) until wal2queue.append_only() is run on it again; rows written before that count as undelivered.',
              HINT = 'Have a superuser run: CREATE EVENT TRIGGER wal2queue_guard_rewrite ON table_rewrite EXECUTE FUNCTION wal2queue.guard_on_rewrite(); ALTER EVENT TRIGGER wal2queue_guard_rewrite ENABLE ALWAYS; CREATE EVENT TRIGGER wal2queue_guard_alter ON ddl_command_end WHEN TAG IN (''ALTER TABLE'', ''ALTER TYPE'', ''CREATE TABLE'', ''CREATE TRIGGER'', ''ALTER TRIGGER'') EXECUTE FUNCTION wal2queue.guard_on_alter(); ALTER EVENT TRIGGER wal2queue_guard_alter ENABLE ALWAYS;';
END
$$;

/*
 * guard_floor(leaf, reference) -- the xid below or at which LEAF's rows
 * may have been written by something other than an INSERT, as xid8: the
 * xmin of the last guard_events row of LEAF, whose recorded state must be
 * LEAF's state now (guard_state()); NULL if LEAF has no complete guard
 * (guard_triggers()) or its state changed since it was last recorded
 * (guard_problem() tells which).
 */
CREATE FUNCTION wal2queue.guard_floor(leaf regclass, reference xid8)
RETURNS xid8
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN r.state = wal2queue.guard_state(leaf::oid) THEN r.floor END
      FROM (SELECT (array_agg(g.state ORDER BY g.seq DESC))[1] AS state,
                   max(wal2queue.full_xid(g.xmin::xid, reference::xid8)) AS floor
              FROM wal2queue.guard_events g WHERE g.relid = leaf) r
     WHERE EXISTS (SELECT FROM wal2queue.guard_triggers(leaf::oid) t WHERE t.complete)
$$;

/*
 * guard_problem(leaf) -- why guard_floor(LEAF) is NULL: 'unguarded' (no
 * complete guard), 'unrecorded' (its guard or file changed since the last
 * record); NULL when it is known.
 */
CREATE FUNCTION wal2queue.guard_problem(leaf regclass)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN NOT EXISTS (SELECT FROM wal2queue.guard_triggers(leaf::oid) t WHERE t.complete) THEN 'unguarded'
        WHEN wal2queue.guard_floor(leaf::regclass, pg_snapshot_xmax(pg_current_snapshot())::xid8) IS NULL THEN 'unrecorded'
    END
$$;

/*
 * leaf_floor(leaf, reference, caller) -- guard_floor(), with a NOTICE when
 * LEAF is guarded but its guard or file changed since the last record
 * (prune() and maintain_partitions() then keep every row of LEAF).
 */
CREATE FUNCTION wal2queue.leaf_floor(leaf regclass, reference xid8, caller text)
RETURNS xid8
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    floor xid8 := wal2queue.guard_floor(leaf::regclass, reference::xid8);
BEGIN
    IF floor IS NULL AND wal2queue.guard_problem(leaf::regclass) = 'unrecorded' THEN
        RAISE NOTICE '%: table % changed since its append-only guard was recorded, so none of its jobs counts as delivered',
            caller, leaf
            USING DETAIL = 'Its file or its guard changed without being recorded: a rewrite, VACUUM FULL, CLUSTER or TRUNCATE, or a change of the guard, made without the event triggers of wal2queue (not installed, disabled, or single-user mode); or an ENABLE or DISABLE TRIGGER by hand on a server without them.',
                  HINT = format('Run SELECT wal2queue.append_only(%L): rows written before it then count as undelivered (prune(..., force => true) deletes them once every slot moved past them).',
                                leaf::text);
    END IF;
    RETURN floor;
END
$$;
