-- sql/src/20_slots.sql -- the slot registry: register, attest, mark backfilled, unregister, create
-- (part of the wal2queue extension script: see 00_install.sql)

/*
 * slots -- the registry of the slots that deliver jobs, and from where.
 *
 *   delivers_from  pg_snapshot_xmax(pg_current_snapshot()) taken right after
 *                  the slot was created (by register_slot()): the slot
 *                  delivers every transaction that has an xid >= it.  0 once
 *                  mark_backfilled() said a backfill delivered the older rows.
 *   tables         the slot's tables option (comma-separated schema.table
 *                  patterns, * matching any run of characters within a
 *                  name, see tables_select()); NULL: every table.
 *   publication    for a pgoutput slot: the publication it is read with
 *                  (the tables it publishes, pg_publication_tables); NULL
 *                  for a wal2queue slot.
 *   registered_snapshot  that snapshot itself (which transactions had
 *                  completed when the slot was registered).
 *   start_lsn      the slot's confirmed_flush_lsn when it was registered
 *                  (for a slot registered right after its creation: its
 *                  start); attest_slot() compares a session's start with it.
 *   attested_xmin, attested_lsn, attested_at  the slot's catalog_xmin (as
 *                  xid8) and confirmed_flush_lsn the last time a bridge
 *                  whose session its sink had validated attested them
 *                  (attest_slot()); never moving backwards.  NULL: never.
 *   attest_refused why a session could not be attested (NULL: none); once
 *                  set, the slot counts as delivering nothing until it is
 *                  registered again.
 *   backfilled_at  when mark_backfilled() was called (NULL: never).
 *
 * Written only through the functions of this extension; readable by
 * everyone (prune() runs as its caller and reads it).  Not dumped by
 * pg_dump: a restored database has no slots, and its bridge registers the
 * slot it creates.
 */
CREATE TABLE wal2queue.slots (
    slot_name     name PRIMARY KEY,
    delivers_from xid8 NOT NULL,
    tables        text,
    created_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    publication   name,
    registered_snapshot pg_snapshot,
    start_lsn     pg_lsn,
    attested_xmin xid8,
    attested_lsn  pg_lsn,
    attested_at   timestamptz,
    attest_refused text,
    backfilled_at timestamptz,
    max_job_bytes bigint
);

COMMENT ON TABLE wal2queue.slots IS
'replication slots that deliver jobs: the xid from which each delivers, the tables it selects, and what a bridge attested';

GRANT SELECT ON wal2queue.slots TO PUBLIC;

/*
 * full_xid(x, reference) -- the 64-bit xid whose low 32 bits are X and that
 * lies nearest to REFERENCE (within 2^31 on either side).
 *
 * A row's xmin and a slot's catalog_xmin are 32-bit xids.  Both lie within
 * 2^31 of any recent reference while they matter: an xid that is not
 * frozen is younger than 2^31 transactions (wraparound protection stops the
 * server before that), and so is a slot's catalog_xmin (it holds back the
 * freezing of the catalogs).  The special xids (invalid, bootstrap, frozen:
 * 0..2) are returned as they are, i.e. older than any real xid.
 *
 * An inlinable SQL function (no SET clause, body bound at creation).
 */
CREATE FUNCTION wal2queue.full_xid(x xid, reference xid8)
RETURNS xid8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT (CASE WHEN x::text::bigint < 3 THEN x::text::bigint
                 ELSE greatest(0, reference::text::bigint
                                  - ((reference::text::bigint % 4294967296
                                      - x::text::bigint + 6442450944) % 4294967296
                                     - 2147483648)) END)::text::xid8;
END;

COMMENT ON FUNCTION wal2queue.full_xid(xid, xid8) IS
'the 64-bit xid with the low 32 bits of X nearest to REFERENCE';

/*
 * tables_select(patterns, schema_name, table_name) -- does a slot's tables
 * option PATTERNS select the table SCHEMA_NAME.TABLE_NAME?  As the plugin
 * matches it (plugin/relinfo.c): NULL, the plugin's default, selects every
 * table but those of schema wal2queue; '*' alone selects every table,
 * schema wal2queue included; otherwise each
 * comma-separated pattern (blanks around it ignored) is schema.table, the
 * part before the '.' matched against the schema's name and the part after
 * it against the table's, '*' matching any run of characters within a name
 * and everything else itself.
 */
CREATE FUNCTION wal2queue.tables_select(patterns text, schema_name text, table_name text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT (patterns IS NULL AND schema_name <> 'wal2queue') OR EXISTS (
        SELECT FROM (SELECT btrim(p.pattern, E' \t') AS pattern
                       FROM unnest(string_to_array(patterns, ',')) AS p(pattern)) AS t
         WHERE t.pattern = '*'
            OR (schema_name ~ ('^' || replace(regexp_replace(split_part(t.pattern, '.', 1),
                                                             '([.^$|?+(){}\[\]\\])', '\\\1', 'g'),
                                              '*', '.*') || '$')
                AND table_name ~ ('^' || replace(regexp_replace(split_part(t.pattern, '.', 2),
                                                                '([.^$|?+(){}\[\]\\])', '\\\1', 'g'),
                                                 '*', '.*') || '$')));
END;

COMMENT ON FUNCTION wal2queue.tables_select(text, text, text) IS
'whether a slot''s tables option selects the table SCHEMA_NAME.TABLE_NAME';

/*
 * check_tables(caller, patterns) -- raise an error unless PATTERNS is a
 * valid tables option (the plugin's rules): comma-separated, each pattern
 * '*' or schema.table with exactly one '.', neither part empty, unquoted.
 */
CREATE FUNCTION wal2queue.check_tables(caller text, patterns text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    pattern text;
    problem text;
BEGIN
    IF patterns IS NULL THEN
        RETURN;     -- every table
    END IF;
    FOREACH pattern IN ARRAY string_to_array(patterns, ',') LOOP
        pattern := btrim(pattern, E' \t');
        IF pattern = '' THEN
            RAISE EXCEPTION '%: invalid value for tables: "%"', caller, patterns
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'The list has an empty pattern.';
        END IF;
        problem := CASE
            WHEN pattern = '*' THEN NULL
            WHEN strpos(pattern, '"') > 0 THEN 'quoted names are not supported'
            WHEN strpos(pattern, '.') = 0 THEN 'not schema-qualified'
            WHEN pattern ~ '\..*\.' THEN 'more than one "."'
            WHEN split_part(pattern, '.', 1) = '' OR split_part(pattern, '.', 2) = ''
                THEN 'empty schema or table part'
        END;
        IF problem IS NOT NULL THEN
            RAISE EXCEPTION '%: invalid pattern "%" in tables: %', caller, pattern, problem
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Write schema.table, unquoted, with * for any run of characters within a name, for example public.job_* or *.jobs.';
        END IF;
    END LOOP;
END
$$;

/*
 * fresh_horizon(snap) -- delivers_from for a slot that exists now: every
 * transaction with an xid at least this one started after the slot was
 * created.  SNAP is pg_current_snapshot() of the caller.  In READ
 * COMMITTED it was taken for the calling statement of a VOLATILE function,
 * after the slot existed: its xmax.  In REPEATABLE READ or SERIALIZABLE it
 * is the transaction's snapshot, taken at its first statement, possibly
 * before the slot was created (create_slot() in one statement, or BEGIN;
 * SELECT ...; create the slot; register it): a transaction that got its xid
 * after it, was still running when the slot was created and committed
 * before its consistent point is never decoded, yet its xid is >= the
 * snapshot's xmax.  There the transaction's own xid is assigned now, after
 * the slot was created: every xid at least that one was assigned later.
 * If the transaction had an xid already (assigned at an unknown earlier
 * moment), it is refused.
 */
CREATE FUNCTION wal2queue.fresh_horizon(snap pg_snapshot)
RETURNS xid8
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF current_setting('transaction_isolation') = 'read committed' THEN
        RETURN pg_snapshot_xmax(snap);
    END IF;
    IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
        RAISE EXCEPTION 'wal2queue.register_slot: cannot register a slot in a % transaction that has written',
            upper(current_setting('transaction_isolation'))
            USING ERRCODE = 'active_sql_transaction',
                  DETAIL = 'Its snapshot and transaction id may be older than the slot, so the registry could count transactions the slot never decoded as delivered.',
                  HINT = 'Register the slot in a READ COMMITTED transaction, or in a new transaction.';
    END IF;
    RETURN greatest(pg_snapshot_xmax(snap), pg_current_xact_id());
END
$$;

REVOKE EXECUTE ON FUNCTION wal2queue.fresh_horizon(pg_snapshot) FROM PUBLIC;

/*
 * register_slot(slot_name, tables, publication, max_job_bytes) -- record that SLOT_NAME
 * delivers the jobs of the tables TABLES selects (NULL: every table) from
 * now on: every transaction whose xid is at least
 * pg_snapshot_xmax(pg_current_snapshot()) now.  PUBLICATION names the
 * publication a pgoutput slot is read with (the bridge's --publication);
 * the slot then delivers only what the publication publishes and TABLES
 * selects.  MAX_JOB_BYTES is the plugin's max-job-bytes option the slot is
 * read with (the bridge's --max-job-bytes; NULL: the plugin's default,
 * 64MB): a larger row is delivered as a claim check, and prune() keeps the
 * rows that may have been (prune_horizon(), point 7).  Replaces an earlier
 * registration of the slot (with a fresh, later horizon and no
 * attestation), but never raises its max_job_bytes: NULL keeps the
 * recorded size, a larger one is ignored (as lower_max_job_bytes()), since
 * a running bridge may still read the slot with the recorded size, and the
 * rows it made claim checks of stay protected.  Call it right after
 * creating the slot (the bridge does, on its replication connection, after
 * CREATE_REPLICATION_SLOT), with the options the slot will be read with.
 * The horizon comes from a snapshot taken now (fresh_horizon()): in
 * REPEATABLE READ or SERIALIZABLE, where the transaction's snapshot may be
 * older than the slot, from an xid assigned now, and a transaction that
 * already has an xid is refused.
 *
 * SECURITY DEFINER (the registry decides what prune() may delete, so only
 * trusted roles may write it): the session's login role must have
 * REPLICATION or be a superuser -- a role that could consume the slot
 * anyway.
 */
CREATE FUNCTION wal2queue.register_slot(slot_name name, tables text DEFAULT NULL,
                                        publication name DEFAULT NULL,
                                        max_job_bytes bigint DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    slot record;
    snap pg_snapshot := pg_current_snapshot();
BEGIN
    PERFORM wal2queue.check_registrar('register');
    IF register_slot.slot_name IS NULL THEN
        RAISE EXCEPTION 'wal2queue.register_slot: slot_name must not be null'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM wal2queue.check_tables('wal2queue.register_slot', tables);
    IF max_job_bytes IS NOT NULL AND (max_job_bytes < 1024 OR max_job_bytes > 268435456) THEN
        RAISE EXCEPTION 'wal2queue.register_slot: max_job_bytes must be from 1024 to 268435456'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('It was %s (the plugin''s max-job-bytes option has that range).', max_job_bytes);
    END IF;

    SELECT s.slot_type, s.database, s.plugin, s.confirmed_flush_lsn INTO slot
      FROM pg_replication_slots s WHERE s.slot_name = register_slot.slot_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'replication slot "%" does not exist', register_slot.slot_name
            USING ERRCODE = 'undefined_object';
    END IF;
    IF slot.slot_type <> 'logical' THEN
        RAISE EXCEPTION 'cannot use physical replication slot "%" for logical decoding', register_slot.slot_name
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF slot.database <> current_database() THEN
        RAISE EXCEPTION 'replication slot "%" was not created in this database', register_slot.slot_name
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF publication IS NOT NULL THEN
        IF slot.plugin <> 'pgoutput' THEN
            RAISE EXCEPTION 'wal2queue.register_slot: a publication applies only to a slot of the plugin pgoutput'
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = format('Replication slot "%s" uses the plugin %s.', register_slot.slot_name, slot.plugin);
        END IF;
        IF NOT EXISTS (SELECT FROM pg_publication p WHERE p.pubname = publication) THEN
            RAISE EXCEPTION 'publication "%" does not exist', publication
                USING ERRCODE = 'undefined_object';
        END IF;
    ELSIF slot.plugin = 'pgoutput' THEN
        RAISE EXCEPTION 'wal2queue.register_slot: a slot of the plugin pgoutput needs its publication'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('Call wal2queue.register_slot(%L, <its tables>, publication => <the bridge''s --publication>).',
                                register_slot.slot_name);
    END IF;

    INSERT INTO wal2queue.slots AS r (slot_name, delivers_from, tables, publication,
                                      registered_snapshot, start_lsn, max_job_bytes)
    VALUES (register_slot.slot_name, wal2queue.fresh_horizon(snap::pg_snapshot), tables, publication,
            snap, slot.confirmed_flush_lsn, register_slot.max_job_bytes)
    ON CONFLICT ON CONSTRAINT slots_pkey DO UPDATE
       SET delivers_from = excluded.delivers_from, tables = excluded.tables,
           -- lower only: a bridge may still read the slot with the recorded size
           max_job_bytes = CASE WHEN excluded.max_job_bytes IS NULL THEN r.max_job_bytes
                                ELSE least(coalesce(r.max_job_bytes, 67108864), excluded.max_job_bytes) END,
           created_at = excluded.created_at, publication = excluded.publication,
           registered_snapshot = excluded.registered_snapshot, start_lsn = excluded.start_lsn,
           attested_xmin = NULL, attested_lsn = NULL, attested_at = NULL,
           attest_refused = NULL, backfilled_at = NULL;
END
$$;

COMMENT ON FUNCTION wal2queue.register_slot(name, text, name, bigint) IS
'record that a logical slot delivers the jobs of TABLES (NULL: all) from now on; for roles with REPLICATION';

/*
 * lower_max_job_bytes(slot_name, max_job_bytes) -- the bridge reads its slot
 * with the plugin's max-job-bytes MAX_JOB_BYTES in this session: record it
 * when it is smaller than the registered one (NULL: the plugin's default,
 * 64MB), so that prune() keeps the rows this session may make claim checks
 * of (prune_horizon(), point 7).  Never raises it: rows an earlier session
 * made claim checks of stay protected.  The bridge calls it before every
 * START_REPLICATION.  Returns the value in force.  Same privilege as
 * register_slot().
 */
CREATE FUNCTION wal2queue.lower_max_job_bytes(slot_name name, max_job_bytes bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    now_bytes bigint;
BEGIN
    PERFORM wal2queue.check_registrar('register');
    IF lower_max_job_bytes.max_job_bytes IS NULL OR lower_max_job_bytes.max_job_bytes < 1024
       OR lower_max_job_bytes.max_job_bytes > 268435456 THEN
        RAISE EXCEPTION 'wal2queue.lower_max_job_bytes: max_job_bytes must be from 1024 to 268435456'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('It was %s.', coalesce(lower_max_job_bytes.max_job_bytes::text, 'null'));
    END IF;
    UPDATE wal2queue.slots r
       SET max_job_bytes = least(coalesce(r.max_job_bytes, 67108864), lower_max_job_bytes.max_job_bytes)
     WHERE r.slot_name = lower_max_job_bytes.slot_name
    RETURNING r.max_job_bytes INTO now_bytes;
    RETURN now_bytes;
END
$$;

COMMENT ON FUNCTION wal2queue.lower_max_job_bytes(name, bigint) IS
'record a smaller max-job-bytes a slot is read with (never a larger one); for roles with REPLICATION';

/*
 * attest_slot(slot_name, walsender_pid, unrecorded_from) -- a bridge
 * attests that the slot's current catalog_xmin and confirmed_flush_lsn
 * reflect only what it delivered: its session, whose walsender is
 * WALSENDER_PID (PQbackendPID() of its replication connection) and which
 * holds the slot now, was validated by its sink.  Records them as
 * attested_xmin and attested_lsn (never moving backwards) and returns true;
 * returns false, recording why in attest_refused, when the session cannot
 * be attested.  prune() trusts a slot's catalog_xmin only as far as it was
 * attested (prune_horizon() states why).
 *
 * UNRECORDED_FROM: NULL when the sink held a record of this source at or
 * past the session's start (the bridge refuses a record behind the slot,
 * so nothing moved the slot past what the sink has); otherwise (a slot the
 * bridge created, --accept-new-source) the session's start, the slot's
 * confirmed_flush_lsn when it began.  Such a session is attested only if
 * it started where the slot was registered (start_lsn: nothing consumed
 * it since) or where an earlier attestation had got to (attested_lsn);
 * otherwise the slot moved without a bridge (re-created or advanced by
 * hand) and the refusal is kept until the slot is registered again.
 *
 * SECURITY DEFINER, same privilege as register_slot().
 */
CREATE FUNCTION wal2queue.attest_slot(slot_name name, walsender_pid integer,
                                      unrecorded_from pg_lsn DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    reg record;
    slot record;
    reference xid8 := pg_snapshot_xmax(pg_current_snapshot());
    why text;
BEGIN
    PERFORM wal2queue.check_registrar('attest');
    IF attest_slot.slot_name IS NULL THEN
        RAISE EXCEPTION 'wal2queue.attest_slot: slot_name must not be null'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF walsender_pid IS NULL THEN
        RAISE EXCEPTION 'wal2queue.attest_slot: walsender_pid must not be null'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT r.start_lsn, r.attested_lsn, r.attest_refused INTO reg
      FROM wal2queue.slots r WHERE r.slot_name = attest_slot.slot_name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'replication slot "%" is not registered', attest_slot.slot_name
            USING ERRCODE = 'undefined_object',
                  HINT = 'Register it with wal2queue.register_slot() (the bridge''s --create-slot does).';
    END IF;
    SELECT s.active_pid, s.catalog_xmin, s.confirmed_flush_lsn INTO slot
      FROM pg_replication_slots s
     WHERE s.slot_name = attest_slot.slot_name AND s.database = current_database();
    IF NOT FOUND THEN
        RAISE EXCEPTION 'replication slot "%" does not exist', attest_slot.slot_name
            USING ERRCODE = 'undefined_object';
    END IF;
    -- the slot must be held by that walsender now (not by a backend that
    -- is consuming it with pg_logical_slot_get_changes()); backend_type is
    -- NULL where the function's owner may not see the session's details
    -- (the standalone script's owner on a managed server)
    IF slot.active_pid IS DISTINCT FROM walsender_pid
       OR EXISTS (SELECT FROM pg_stat_activity a
                   WHERE a.pid = walsender_pid AND a.backend_type <> 'walsender') THEN
        RAISE EXCEPTION 'replication slot "%" is not held by the walsender with PID %',
            attest_slot.slot_name, walsender_pid
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('It is held by %s.', coalesce('PID ' || slot.active_pid, 'no process'));
    END IF;
    IF reg.attest_refused IS NOT NULL THEN
        RETURN false;
    END IF;
    IF unrecorded_from IS NOT NULL
       AND unrecorded_from IS DISTINCT FROM reg.start_lsn
       AND (reg.attested_lsn IS NULL OR unrecorded_from > reg.attested_lsn) THEN
        why := format('a bridge session began at %s without a record in its sink, but the slot was '
                      'registered at %s and attested up to %s', unrecorded_from, reg.start_lsn,
                      coalesce(reg.attested_lsn::text, 'nowhere'));
        UPDATE wal2queue.slots r SET attest_refused = why WHERE r.slot_name = attest_slot.slot_name;
        RAISE WARNING 'wal2queue.attest_slot: replication slot "%" moved without a bridge, so prune() counts nothing as delivered by it',
            attest_slot.slot_name
            USING DETAIL = why || '.',
                  HINT = 'Re-send what it may have skipped, then register it again with wal2queue.register_slot().';
        RETURN false;
    END IF;
    UPDATE wal2queue.slots r
       SET attested_xmin = CASE WHEN slot.catalog_xmin IS NULL THEN r.attested_xmin
                                ELSE greatest(r.attested_xmin, wal2queue.full_xid(slot.catalog_xmin::xid, reference::xid8)) END,
           attested_lsn = greatest(r.attested_lsn, slot.confirmed_flush_lsn),
           attested_at = now()
     WHERE r.slot_name = attest_slot.slot_name;
    RETURN true;
END
$$;

COMMENT ON FUNCTION wal2queue.attest_slot(name, integer, pg_lsn) IS
'a bridge attests the catalog_xmin of the slot its validated session holds; for roles with REPLICATION';

/*
 * mark_backfilled(slot_name, consistent_point) -- the bridge finished a
 * backfill of the slot's tables from the snapshot the slot exported when it
 * was created at CONSISTENT_POINT: rows older than the slot count as
 * delivered by it (delivers_from := 0).  Every row of a selected table
 * whose transaction committed before the slot's consistent point was
 * visible in that snapshot, and every later one is decoded by the slot, so
 * together they cover every row.  A backfill with a condition declares that
 * the rows the condition excluded need no delivery: prune() deletes them
 * too once the slot is past them.
 *
 * Refused unless CONSISTENT_POINT is the start_lsn the slot was registered
 * with (its confirmed_flush_lsn right after its creation): a backfill of an
 * earlier slot of the same name, or one taken from another snapshot
 * (--backfill-again), says nothing about the rows this slot skipped.
 * Same privilege as register_slot().
 */
CREATE FUNCTION wal2queue.mark_backfilled(slot_name name, consistent_point pg_lsn)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    registered pg_lsn;
BEGIN
    PERFORM wal2queue.check_registrar('mark');
    IF mark_backfilled.slot_name IS NULL THEN
        RAISE EXCEPTION 'wal2queue.mark_backfilled: slot_name must not be null'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF mark_backfilled.consistent_point IS NULL THEN
        RAISE EXCEPTION 'wal2queue.mark_backfilled: consistent_point must not be null'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT r.start_lsn INTO registered
      FROM wal2queue.slots r WHERE r.slot_name = mark_backfilled.slot_name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'replication slot "%" is not registered', mark_backfilled.slot_name
            USING ERRCODE = 'undefined_object',
                  HINT = 'Register it with wal2queue.register_slot() right after creating it, before the backfill.';
    END IF;
    IF registered IS DISTINCT FROM mark_backfilled.consistent_point THEN
        RAISE EXCEPTION 'replication slot "%" was registered at %, not at the backfill''s consistent point %',
                        mark_backfilled.slot_name, coalesce(registered::text, 'an unknown position'),
                        mark_backfilled.consistent_point
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'The backfill was taken from the snapshot of another slot of that name, or of no slot.';
    END IF;
    UPDATE wal2queue.slots r SET delivers_from = '0', backfilled_at = now()
     WHERE r.slot_name = mark_backfilled.slot_name;
END
$$;

COMMENT ON FUNCTION wal2queue.mark_backfilled(name, pg_lsn) IS
'after a backfill from the slot''s exported snapshot: rows older than the slot count as delivered; for roles with REPLICATION';

/*
 * unregister_slot(slot_name) -- forget a slot (the bridge calls it when it
 * drops its slot).  Same privilege as register_slot().  Unknown names are
 * ignored.
 */
CREATE FUNCTION wal2queue.unregister_slot(slot_name name)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM wal2queue.check_registrar('unregister');
    DELETE FROM wal2queue.slots r WHERE r.slot_name = unregister_slot.slot_name;
END
$$;

COMMENT ON FUNCTION wal2queue.unregister_slot(name) IS
'forget a slot registered with register_slot(); for roles with REPLICATION';

/*
 * check_registrar(action) -- raise an error unless the session's login role
 * (session_user: inside a SECURITY DEFINER function current_user is the
 * owner) is a superuser or has REPLICATION, or is a member of a role named
 * rds_replication (Amazon RDS and Aurora grant the replication right
 * through that role, not the attribute; see docs/managed.md).  In
 * PostgreSQL 15 only a superuser can create a role with REPLICATION or
 * give the attribute (ALTER ROLE ... REPLICATION): CREATEROLE cannot, not
 * even to itself.  A role with CREATEROLE can, however, create a role
 * named rds_replication where none exists and grant membership in it, so
 * on a self-managed server CREATEROLE suffices to pass this check; on RDS
 * and Aurora the provider owns that role.
 */
CREATE FUNCTION wal2queue.check_registrar(action text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles r, (SELECT (SELECT g.oid FROM pg_roles g WHERE g.rolname = 'rds_replication') AS oid) rds
                    WHERE r.rolname = session_user AND (r.rolsuper OR r.rolreplication OR pg_has_role(r.oid, rds.oid, 'MEMBER'))) THEN
        RAISE EXCEPTION 'permission denied to % replication slots with wal2queue', action
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Only roles with the REPLICATION attribute may register, unregister, attest and mark slots.';
    END IF;
END
$$;

/*
 * create_slot(slot_name, tables, plugin, publication) -- create a logical
 * replication slot and register it (register_slot()), for slots created
 * by hand; PUBLICATION for a pgoutput slot.  Returns the slot's start LSN.
 * Runs as its caller: needs REPLICATION.  In REPEATABLE READ or
 * SERIALIZABLE its snapshot predates the slot: register_slot() then takes
 * the horizon from the xid it assigns (fresh_horizon()).
 */
CREATE FUNCTION wal2queue.create_slot(slot_name name, tables text DEFAULT NULL,
                                      plugin name DEFAULT 'wal2queue',
                                      publication name DEFAULT NULL)
RETURNS pg_lsn
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    start_lsn pg_lsn;
BEGIN
    PERFORM wal2queue.check_tables('wal2queue.create_slot', tables);
    -- a slot cannot be taken back once created: check what register_slot() would refuse
    IF (plugin = 'pgoutput') <> (publication IS NOT NULL) THEN
        RAISE EXCEPTION 'wal2queue.create_slot: a publication is needed by, and only by, a slot of the plugin pgoutput'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The plugin was %s, the publication %s.', plugin, coalesce(quote_ident(publication), 'null'));
    END IF;
    SELECT s.lsn INTO start_lsn
      FROM pg_create_logical_replication_slot(create_slot.slot_name, plugin) s;
    PERFORM wal2queue.register_slot(create_slot.slot_name::name, tables::text, publication::name, NULL::bigint);
    RETURN start_lsn;
END
$$;

COMMENT ON FUNCTION wal2queue.create_slot(name, text, name, name) IS
'create a logical replication slot and register it with wal2queue';
