/*
 * sql/wal2queue--1.0.sql -- the wal2queue extension, version 1.0
 *
 * Objects live in the schema wal2queue (created by CREATE EXTENSION, see
 * wal2queue.control).  The script refuses a schema wal2queue that it does
 * not own (someone who could create or replace functions in it could make
 * the extension's functions run theirs), and runs with search_path =
 * pg_catalog, pg_temp so that nothing it creates resolves a name elsewhere.
 *
 * Security model (docs/extension.md, "Least privilege"):
 *  - Functions run as their caller (SECURITY INVOKER) with a fixed
 *    search_path, so they can do nothing the caller could not do by hand,
 *    except:
 *  - send() is SECURITY DEFINER and executable only by members of the role
 *    wal2queue_sender; the install script revokes EXECUTE on
 *    pg_logical_emit_message() from PUBLIC in this database and grants it to
 *    wal2queue_sender, so no other role can forge a job by message.
 *  - register_slot() and unregister_slot() are SECURITY DEFINER and check
 *    that the session's login role has REPLICATION (or is a superuser).
 *  Every function called from a SECURITY DEFINER function without a SET
 *  search_path clause, and every operator there, is qualified with
 *  pg_catalog; the others have SET search_path = pg_catalog, pg_temp.
 *
 * Bad arguments raise SQLSTATE 22023 (invalid_parameter_value) with a
 * message naming the function and the argument.
 * docs/extension.md is the user documentation.
 */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION wal2queue" to load this file. \quit

-- nothing below may resolve a name outside pg_catalog (CREATE EXTENSION
-- restores the setting afterwards)
SET LOCAL search_path = pg_catalog, pg_temp;

/*
 * The schema must be ours.  CREATE EXTENSION creates it when it does not
 * exist; a schema that existed before is accepted only if it is owned by
 * the installing role or a superuser, no other role may create objects in
 * it, and it holds no function or operator of a role that is not a
 * superuser.
 */
DO $$
DECLARE
    nsp oid := 'wal2queue'::regnamespace;
    owner name;
    creator name;
    planted text;
BEGIN
    SELECT r.rolname INTO owner
      FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner
     WHERE n.oid = nsp AND r.rolname <> current_user AND NOT r.rolsuper;
    IF owner IS NOT NULL THEN
        RAISE EXCEPTION 'schema "wal2queue" is owned by role "%"', owner
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'The wal2queue extension runs functions from its schema with elevated privileges.',
                  HINT = 'Drop the schema, or make a superuser its owner, before CREATE EXTENSION wal2queue.';
    END IF;
    SELECT coalesce(r.rolname, 'PUBLIC') INTO creator
      FROM pg_namespace n, aclexplode(n.nspacl) a
      LEFT JOIN pg_roles r ON r.oid = a.grantee
     WHERE n.oid = nsp AND a.privilege_type = 'CREATE' AND a.grantee <> n.nspowner
       AND NOT coalesce(r.rolsuper, false)
     LIMIT 1;
    IF creator IS NOT NULL THEN
        RAISE EXCEPTION 'role "%" may create objects in schema "wal2queue"', creator
            USING ERRCODE = 'insufficient_privilege',
                  HINT = format('REVOKE CREATE ON SCHEMA wal2queue FROM %s before CREATE EXTENSION wal2queue.',
                               CASE creator WHEN 'PUBLIC' THEN creator ELSE quote_ident(creator) END);
    END IF;
    SELECT o.what INTO planted FROM (
        SELECT format('function %s of role "%s"', p.oid::regprocedure, r.rolname) AS what
          FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner
         WHERE p.pronamespace = nsp AND NOT r.rolsuper
        UNION ALL
        SELECT format('operator %s of role "%s"', o.oid::regoperator, r.rolname)
          FROM pg_operator o JOIN pg_roles r ON r.oid = o.oprowner
         WHERE o.oprnamespace = nsp AND NOT r.rolsuper) o
     LIMIT 1;
    IF planted IS NOT NULL THEN
        RAISE EXCEPTION 'schema "wal2queue" already holds %', planted
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Drop it before CREATE EXTENSION wal2queue.';
    END IF;
END
$$;

/*
 * Who may create jobs by message: the role wal2queue_sender (a group role,
 * created once per cluster).  pg_logical_emit_message() is executable by
 * PUBLIC in PostgreSQL and checks nothing, so any role that can log in
 * could put a forged job on the stream; revoke that in this database (a
 * function's privileges are per database) and grant it to wal2queue_sender.
 * DROP EXTENSION does not undo this.  Said with a WARNING: CREATE EXTENSION
 * hides the NOTICEs of its script.
 *
 * Only the function's owner (the bootstrap superuser) may change its
 * privileges.  Installed by a role that is not a superuser (the standalone
 * script on a managed server), the REVOKE is refused: that is said with a
 * WARNING and the SQL for an administrator, and the rest installs.  Creating
 * the role needs CREATEROLE (or an administrator who created it first).
 */
DO $$
DECLARE
    was_public boolean;
    messages text;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'wal2queue_sender') THEN
        BEGIN
            CREATE ROLE wal2queue_sender NOLOGIN;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE EXCEPTION 'wal2queue needs the role wal2queue_sender, and role "%" may not create it', current_user
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'Have a role with CREATEROLE run CREATE ROLE wal2queue_sender NOLOGIN, then install again.';
        END;
    END IF;
    SELECT bool_or(has_function_privilege('public', p.oid, 'EXECUTE')) INTO was_public
      FROM pg_proc p
     WHERE p.oid IN ('pg_logical_emit_message(boolean,text,text)'::regprocedure,
                     'pg_logical_emit_message(boolean,text,bytea)'::regprocedure);
    -- a role that does not own it gets core's "no privileges could be
    -- revoked" WARNINGs (or an error without EXECUTE): checked below instead
    messages := current_setting('client_min_messages');
    PERFORM set_config('client_min_messages', 'error', true);
    BEGIN
        REVOKE EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text),
                                   pg_logical_emit_message(boolean, text, bytea) FROM PUBLIC;
        GRANT EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text),
                                  pg_logical_emit_message(boolean, text, bytea) TO wal2queue_sender;
    EXCEPTION WHEN insufficient_privilege THEN
        NULL;
    END;
    PERFORM set_config('client_min_messages', messages, true);
    IF EXISTS (SELECT FROM pg_proc p
                WHERE p.oid IN ('pg_logical_emit_message(boolean,text,text)'::regprocedure,
                                'pg_logical_emit_message(boolean,text,bytea)'::regprocedure)
                  AND has_function_privilege('public', p.oid, 'EXECUTE')) THEN
        RAISE WARNING 'could not revoke EXECUTE on pg_logical_emit_message() from PUBLIC in database "%": role "%" does not own it',
            current_database(), current_user
            USING DETAIL = 'Any role that can log in can still emit a wal2queue message, i.e. forge a job; send() works as before.',
                  HINT = 'Have a superuser run: REVOKE EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text), pg_logical_emit_message(boolean, text, bytea) FROM PUBLIC; GRANT EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text), pg_logical_emit_message(boolean, text, bytea) TO wal2queue_sender;';
        RETURN;
    END IF;
    IF was_public THEN
        RAISE WARNING 'revoked EXECUTE on pg_logical_emit_message() from PUBLIC in database "%" and granted it to role wal2queue_sender',
            current_database()
            USING DETAIL = 'Only members of wal2queue_sender (and superusers) can now emit logical messages in this database; DROP EXTENSION does not undo this.';
    END IF;
END
$$;

/*
 * send(target, payload, key) -- enqueue one job without touching a table.
 *
 * The job is a transactional logical message with the prefix
 * 'wal2queue:' || target, followed by '#' || key when key is not NULL
 * (plugin/FORMAT.md, "Logical messages").  The plugin hands it on when the
 * transaction commits and never when it rolls back.  Only WAL is written: no
 * heap tuple, no index entry, nothing for vacuum.  Returns the LSN of the
 * message record.
 *
 * SECURITY DEFINER, executable by wal2queue_sender: it can only emit
 * messages with the 'wal2queue:' prefix, so a role may be granted send()
 * without pg_logical_emit_message().  It is on the hot path, so it has no
 * SET search_path clause (that costs about 2/3 more per call, where
 * SECURITY DEFINER alone costs nothing measurable): every
 * function and operator in it is qualified with pg_catalog instead, so a
 * caller's search_path cannot redirect anything it runs.
 */
CREATE FUNCTION wal2queue.send(target text, payload text, key text DEFAULT NULL)
RETURNS pg_lsn
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
AS $$
BEGIN
    IF target IS NULL OR target OPERATOR(pg_catalog.=) '' THEN
        RAISE EXCEPTION 'wal2queue.send: target must not be null or empty'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- the plugin reads the target up to the first '#', the key after it
    IF pg_catalog.strpos(target, '#') OPERATOR(pg_catalog.>) 0 THEN
        RAISE EXCEPTION 'wal2queue.send: target must not contain "#"'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('The target was %L.', target);
    END IF;
    IF payload IS NULL THEN
        RAISE EXCEPTION 'wal2queue.send: payload must not be null'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    RETURN pg_catalog.pg_logical_emit_message(
        true,
        pg_catalog.concat('wal2queue:', target, '#' OPERATOR(pg_catalog.||) key),
        payload);
END
$$;

COMMENT ON FUNCTION wal2queue.send(text, text, text) IS
'enqueue a job for TARGET (optionally keyed) as a transactional logical message; delivered at commit';

-- send() with a jsonb payload: the job carries the payload's text form
-- (no SET clause, so that the planner can inline it; the body is bound at
-- creation, so a caller's search_path cannot redirect it)
CREATE FUNCTION wal2queue.send(target text, payload jsonb, key text DEFAULT NULL)
RETURNS pg_lsn
LANGUAGE sql VOLATILE
BEGIN ATOMIC
    SELECT wal2queue.send(target, payload::text, key);
END;

COMMENT ON FUNCTION wal2queue.send(text, jsonb, text) IS
'enqueue a job with a jsonb payload (sent as its text form); delivered at commit';

REVOKE EXECUTE ON FUNCTION wal2queue.send(text, text, text), wal2queue.send(text, jsonb, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wal2queue.send(text, text, text), wal2queue.send(text, jsonb, text) TO wal2queue_sender;

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
    backfilled_at timestamptz
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
 * matches it: NULL or '*' alone selects every table; otherwise each
 * comma-separated pattern (blanks around it ignored) is schema.table, the
 * part before the '.' matched against the schema's name and the part after
 * it against the table's, '*' matching any run of characters within a name
 * and everything else itself.
 */
CREATE FUNCTION wal2queue.tables_select(patterns text, schema_name text, table_name text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT patterns IS NULL OR EXISTS (
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
 * register_slot(slot_name, tables, publication) -- record that SLOT_NAME
 * delivers the jobs of the tables TABLES selects (NULL: every table) from
 * now on: every transaction whose xid is at least
 * pg_snapshot_xmax(pg_current_snapshot()) now.  PUBLICATION names the
 * publication a pgoutput slot is read with (the bridge's --publication);
 * the slot then delivers only what the publication publishes and TABLES
 * selects.  Replaces an earlier registration of the slot (with a fresh,
 * later horizon and no attestation).  Call it right after creating the
 * slot (the bridge does, on its replication connection, after
 * CREATE_REPLICATION_SLOT), with the options the slot will be read with.
 *
 * SECURITY DEFINER (the registry decides what prune() may delete, so only
 * trusted roles may write it): the session's login role must have
 * REPLICATION or be a superuser -- a role that could consume the slot
 * anyway.
 */
CREATE FUNCTION wal2queue.register_slot(slot_name name, tables text DEFAULT NULL,
                                        publication name DEFAULT NULL)
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
                                      registered_snapshot, start_lsn)
    VALUES (register_slot.slot_name, pg_snapshot_xmax(snap), tables, publication,
            snap, slot.confirmed_flush_lsn)
    ON CONFLICT ON CONSTRAINT slots_pkey DO UPDATE
       SET delivers_from = excluded.delivers_from, tables = excluded.tables,
           created_at = excluded.created_at, publication = excluded.publication,
           registered_snapshot = excluded.registered_snapshot, start_lsn = excluded.start_lsn,
           attested_xmin = NULL, attested_lsn = NULL, attested_at = NULL,
           attest_refused = NULL, backfilled_at = NULL;
END
$$;

COMMENT ON FUNCTION wal2queue.register_slot(name, text, name) IS
'record that a logical slot delivers the jobs of TABLES (NULL: all) from now on; for roles with REPLICATION';

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
                                ELSE greatest(r.attested_xmin, wal2queue.full_xid(slot.catalog_xmin, reference)) END,
           attested_lsn = greatest(r.attested_lsn, slot.confirmed_flush_lsn),
           attested_at = now()
     WHERE r.slot_name = attest_slot.slot_name;
    RETURN true;
END
$$;

COMMENT ON FUNCTION wal2queue.attest_slot(name, integer, pg_lsn) IS
'a bridge attests the catalog_xmin of the slot its validated session holds; for roles with REPLICATION';

/*
 * mark_backfilled(slot_name) -- the bridge finished a backfill of the
 * slot's tables from the snapshot the slot exported when it was created:
 * rows older than the slot count as delivered by it (delivers_from := 0).
 * Every row of a selected table whose transaction committed before the
 * slot's consistent point was visible in that snapshot, and every later
 * one is decoded by the slot, so together they cover every row.  A backfill
 * with a condition declares that the rows the condition excluded need no
 * delivery: prune() deletes them too once the slot is past them.
 * Same privilege as register_slot().
 */
CREATE FUNCTION wal2queue.mark_backfilled(slot_name name)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM wal2queue.check_registrar('mark');
    IF mark_backfilled.slot_name IS NULL THEN
        RAISE EXCEPTION 'wal2queue.mark_backfilled: slot_name must not be null'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE wal2queue.slots r SET delivers_from = '0', backfilled_at = now()
     WHERE r.slot_name = mark_backfilled.slot_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'replication slot "%" is not registered', mark_backfilled.slot_name
            USING ERRCODE = 'undefined_object',
                  HINT = 'Register it with wal2queue.register_slot() right after creating it, before the backfill.';
    END IF;
END
$$;

COMMENT ON FUNCTION wal2queue.mark_backfilled(name) IS
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
 * owner) is a superuser or has REPLICATION.
 */
CREATE FUNCTION wal2queue.check_registrar(action text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles r
                    WHERE r.rolname = session_user AND (r.rolsuper OR r.rolreplication)) THEN
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
 * Runs as its caller: needs REPLICATION.
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
    PERFORM wal2queue.register_slot(create_slot.slot_name, tables, publication);
    RETURN start_lsn;
END
$$;

COMMENT ON FUNCTION wal2queue.create_slot(name, text, name, name) IS
'create a logical replication slot and register it with wal2queue';

/*
 * slot_selects(tables, publication, job_table) -- does a registered slot
 * with these TABLES and PUBLICATION deliver the rows of JOB_TABLE?  The
 * tables option is matched against the name the decoder uses (the
 * partition root's schema.table); a pgoutput slot must also have the
 * table published: the table, its partition root or any partition of that
 * root in pg_publication_tables (counting a slot that may deliver it is
 * safe: it can only hold prune back).
 */
CREATE FUNCTION wal2queue.slot_selects(tables text, publication name, job_table regclass)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT wal2queue.tables_select(tables, n.nspname, c.relname)
           AND (publication IS NULL OR EXISTS (
                SELECT FROM pg_publication_tables pt
                  JOIN pg_namespace pn ON pn.nspname = pt.schemaname
                  JOIN pg_class pc ON pc.relnamespace = pn.oid AND pc.relname = pt.tablename
                 WHERE pt.pubname = publication
                   AND pc.oid IN (SELECT c.oid UNION ALL SELECT t.relid FROM pg_partition_tree(c.oid) t)))
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = coalesce(pg_partition_root(job_table), job_table)
$$;

/*
 * published_before(publication, job_table, snap, reference) -- was
 * JOB_TABLE (its partition tree) published by PUBLICATION already for
 * every transaction that completed after the snapshot SNAP?  True when a
 * catalog row that makes it published (pg_publication_rel of a table of
 * the tree, pg_publication_namespace of its schemas, or a FOR ALL TABLES
 * publication) was committed as of SNAP.  pgoutput reads a publication as
 * of each transaction it decodes, so a table added later was not sent for
 * the transactions before.
 */
CREATE FUNCTION wal2queue.published_before(publication name, job_table regclass,
                                           snap pg_snapshot, reference xid8)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH tree AS (
        SELECT c.oid, c.relnamespace FROM pg_class c
         WHERE c.oid = coalesce(pg_partition_root(job_table), job_table)
            OR c.oid IN (SELECT t.relid FROM pg_partition_tree(coalesce(pg_partition_root(job_table), job_table)) t)
    ), pub AS (
        SELECT p.oid, p.puballtables, p.xmin FROM pg_publication p WHERE p.pubname = publication
    ), member AS (
        SELECT pub.xmin FROM pub WHERE pub.puballtables
        UNION ALL
        SELECT r.xmin FROM pg_publication_rel r, pub
         WHERE r.prpubid = pub.oid AND r.prrelid IN (SELECT tree.oid FROM tree)
        UNION ALL
        SELECT s.xmin FROM pg_publication_namespace s, pub
         WHERE s.pnpubid = pub.oid AND s.pnnspid IN (SELECT tree.relnamespace FROM tree)
    )
    SELECT snap IS NOT NULL AND EXISTS (
        SELECT FROM member m
         WHERE pg_visible_in_snapshot(wal2queue.full_xid(m.xmin, reference), snap))
$$;

/*
 * horizon_problem(job_table, reference, caller) -- why the registry cannot
 * vouch for JOB_TABLE at all (prune_horizon(), THE RULE), with a hint; no
 * row when it can.
 */
CREATE FUNCTION wal2queue.horizon_problem(job_table regclass, reference xid8, caller text,
                                          OUT problem text, OUT hint text)
RETURNS SETOF record
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p.problem, p.hint FROM (
        SELECT 1 AS o, r.slot_name AS n,
               format('replication slot "%s" is registered but does not exist in this database', r.slot_name) AS problem,
               format('If every job it should have delivered was delivered or re-sent, run SELECT wal2queue.unregister_slot(%L); or call %s(..., force => true).',
                      r.slot_name, caller) AS hint
          FROM wal2queue.slots r
         WHERE NOT EXISTS (SELECT FROM pg_replication_slots s
                            WHERE s.slot_name = r.slot_name AND s.slot_type = 'logical'
                              AND s.database = current_database())
        UNION ALL
        SELECT 2, s.slot_name,
               format('replication slot "%s" uses the plugin wal2queue but is not registered', s.slot_name),
               format('Register it with SELECT wal2queue.register_slot(%L, <its tables option>) (it then delivers from now on), or call %s(..., force => true).',
                      s.slot_name, caller)
          FROM pg_replication_slots s
         WHERE s.plugin = 'wal2queue' AND s.database = current_database()
           AND NOT EXISTS (SELECT FROM wal2queue.slots r WHERE r.slot_name = s.slot_name)
        UNION ALL
        SELECT 3, r.slot_name,
               format('publication "%s" of replication slot "%s" began publishing table %s after the slot was registered',
                      r.publication, r.slot_name, coalesce(pg_partition_root(job_table), job_table)::regclass),
               format('Register the slot again with SELECT wal2queue.register_slot(%L, %L, %L) (it then delivers from now on), or call %s(..., force => true).',
                      r.slot_name, r.tables, r.publication, caller)
          FROM wal2queue.slots r
         WHERE r.publication IS NOT NULL
           AND wal2queue.slot_selects(r.tables, r.publication, job_table)
           AND NOT wal2queue.published_before(r.publication, job_table, r.registered_snapshot, reference)
        UNION ALL
        SELECT 4, NULL,
               format('no registered replication slot selects table %s', coalesce(pg_partition_root(job_table), job_table)::regclass),
               format('Create the slot with wal2queue.create_slot() or the bridge''s --create-slot, or call %s(..., force => true).',
                      caller)
         WHERE NOT EXISTS (SELECT FROM wal2queue.slots r
                            WHERE wal2queue.slot_selects(r.tables, r.publication, job_table))
    ) p
    ORDER BY p.o, p.n LIMIT 1
$$;

/*
 * prune_horizon(job_table, force, caller, fatal) -- which rows of JOB_TABLE
 * every slot that should deliver them has delivered: those whose xmin x
 * satisfies  from_xid <= full_xid(x, reference) < below_xid.
 * All three NULL: no row may be deleted (a NOTICE or WARNING says why).
 *
 * THE RULE.  A row may be deleted only if every registered slot that
 * selects the table (slot_selects(): its tables option, and for a pgoutput
 * slot its publication) has delivered it; at least one must select it:
 *   from_xid  = the largest delivers_from of those slots,
 *   below_xid = the smallest of  least(catalog_xmin, attested_xmin)  of
 *               those slots (as xid8): a slot's catalog_xmin counts only
 *               as far as a bridge attested it (attest_slot()).
 * Anything else deletes nothing: no registered slot selects the table, a
 * registered slot no longer exists (it was dropped or lost with undelivered
 * jobs, or re-created and not registered again), a slot of the plugin
 * wal2queue in this database is not registered (it may deliver from an
 * unknown point), a pgoutput slot's publication began publishing the table
 * after the slot was registered (errors with FATAL, otherwise warnings);
 * a selecting slot that no bridge attested yet, or whose attestation was
 * refused (NOTICEs).
 *
 * WHY A ROW THAT PASSES WAS DELIVERED BY SLOT S (PostgreSQL 15,
 * replication/logical/logical.c and snapbuild.c), for a row whose xmin x
 * belongs to top-level transaction T:
 *  1. x >= S.delivers_from  =>  S decodes T.  delivers_from is the xmax of a
 *     snapshot taken after S was created, i.e. after S's consistent point;
 *     an xid >= xmax had not completed when that snapshot was taken
 *     (latestCompletedXid covers subtransactions too), so T commits after
 *     the consistent point, and a slot decodes in full every transaction
 *     that commits after its consistent point (snapbuild's CONSISTENT
 *     state).  Xids below delivers_from are conservatively taken as not
 *     delivered by S, even though most were -- unless mark_backfilled()
 *     set delivers_from to 0: then a backfill read every row committed
 *     before the consistent point from the snapshot S exported there.
 *     For a pgoutput slot, its publication published the table for T too:
 *     the catalog row that publishes it was committed in the registration
 *     snapshot (published_before()), and T completed after it.
 *  2. x < S.catalog_xmin  =>  S's consumer confirmed T.  After creation a
 *     slot's catalog_xmin moves only through LogicalConfirmReceivedLocation():
 *     decoding an xl_running_xacts record at LSN L proposes a candidate
 *     X <= the record's oldestRunningXid with candidate_xmin_lsn = L, and it
 *     becomes catalog_xmin only once the consumer confirmed a flush position
 *     >= L.  Every xid below oldestRunningXid belongs to a transaction that
 *     had ended before L was written (xids are assigned in order, a
 *     transaction leaves the proc array only after its commit record is in
 *     WAL, and the record at L is written after the proc array was scanned).
 *     A subtransaction's xid is larger than its parent's, so T < x < X too.
 *     So T's commit record precedes L <= the confirmed position: S streamed
 *     T and its consumer confirmed it.
 *  3. x < S.attested_xmin  =>  that consumer was a bridge, after delivery.
 *     attested_xmin is a catalog_xmin read while the slot was held by the
 *     walsender of a bridge session that its sink had validated
 *     (attest_slot() checks the holder; the bridge calls it only once the
 *     sink accepted the session).  Every confirmation that moved it there
 *     was made by such sessions, each of which confirms only what its sink
 *     durably accepted, and nothing else consumed the slot in between:
 *     a) within a session the walsender holds the slot, so nobody else
 *        (pg_replication_slot_advance(), pg_logical_slot_get_changes(),
 *        DROP) can move or replace it;
 *     b) between sessions, a slot advanced, consumed, or dropped and
 *        re-created by hand starts the next session past the sink's
 *        record of this source, which the bridge refuses (it never
 *        attests); a session without such a record (a slot the bridge
 *        created, --accept-new-source) is attested only if it starts where
 *        the slot was registered or where the last attestation had got to
 *        (a re-created slot starts at the WAL position of its creation,
 *        past both), and a refused one stops attestation until the slot is
 *        registered again.
 *     A slot consumed by hand after its last attestation has a larger
 *     catalog_xmin, but least() keeps the attested one.
 *  4. Xids are compared as 64-bit values (full_xid() around a reference
 *     taken now), so the comparison is correct across wraparound.
 *  5. A row is deleted only if 1 to 3 hold for every registered slot that
 *     selects its table, so no slot that should deliver it is skipped, and
 *     a wal2queue slot that is not registered stops prune altogether.
 *
 * WHAT IT CANNOT SEE.  A registration with a tables option or publication
 * other than the one the slot is read with.  A bridge session that began
 * without a sink record at a position the slot reached without a bridge
 * and ended before its first attestation (every status interval): its
 * sink's record then vouches for the next session.  A row whose 32-bit
 * xmin is older than 2^31 transactions (frozen, still undelivered after
 * that long) may be taken for a recent xid.
 *
 * FORCE.  With force => true only point 2 is kept: a row goes when its xmin
 * precedes the catalog_xmin of every wal2queue slot and every registered
 * slot of this database, whether or not a slot delivered it (use it once the
 * jobs a re-created slot skipped were re-sent or given up).  With no such
 * slot nothing is deleted.
 */
CREATE FUNCTION wal2queue.prune_horizon(job_table regclass, force boolean DEFAULT false,
                                        caller text DEFAULT 'wal2queue.prune_horizon',
                                        fatal boolean DEFAULT true,
                                        OUT reference xid8, OUT from_xid xid8, OUT below_xid xid8)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    table_name text;
    problem text;
    hint text;
    unset name;
    unattested record;
    nslots bigint;
BEGIN
    IF job_table IS NULL THEN
        RAISE EXCEPTION '%: job_table must not be null', caller
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF force IS NULL THEN
        RAISE EXCEPTION '%: force must not be null', caller
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    reference := pg_snapshot_xmax(pg_current_snapshot());
    table_name := coalesce(pg_partition_root(job_table), job_table)::regclass::text;

    IF NOT force THEN
        SELECT p.problem, p.hint INTO problem, hint
          FROM wal2queue.horizon_problem(job_table, reference, caller) p;
        IF problem IS NOT NULL THEN
            IF fatal THEN
                RAISE EXCEPTION '%: %, so no job counts as delivered', caller, problem
                    USING ERRCODE = 'object_not_in_prerequisite_state', HINT = hint;
            END IF;
            RAISE WARNING '%: %, so no job counts as delivered', caller, problem
                USING HINT = hint;
            reference := NULL;
            RETURN;
        END IF;

        SELECT r.slot_name, r.attest_refused INTO unattested
          FROM wal2queue.slots r
         WHERE wal2queue.slot_selects(r.tables, r.publication, job_table)
           AND (r.attested_xmin IS NULL OR r.attest_refused IS NOT NULL)
         ORDER BY r.slot_name LIMIT 1;
        IF unattested.slot_name IS NOT NULL THEN
            IF unattested.attest_refused IS NULL THEN
                RAISE NOTICE '%: no bridge has attested replication slot "%" yet, so no job counts as delivered',
                    caller, unattested.slot_name
                    USING HINT = 'start the bridge: it attests the slot once its sink has validated the session (every status interval).';
            ELSE
                RAISE NOTICE '%: replication slot "%" was consumed or re-created without a bridge, so no job counts as delivered',
                    caller, unattested.slot_name
                    USING DETAIL = unattested.attest_refused || '.',
                          HINT = format('Re-send what it may have skipped, then register it again with wal2queue.register_slot(%L, ...) and start the bridge; or call %s(..., force => true).',
                                        unattested.slot_name, caller);
            END IF;
            reference := NULL;
            RETURN;
        END IF;

        SELECT count(*), min(s.slot_name) FILTER (WHERE s.catalog_xmin IS NULL),
               max(r.delivers_from),
               min(least(wal2queue.full_xid(s.catalog_xmin, reference), r.attested_xmin))
          INTO nslots, unset, from_xid, below_xid
          FROM wal2queue.slots r JOIN pg_replication_slots s ON s.slot_name = r.slot_name
         WHERE wal2queue.slot_selects(r.tables, r.publication, job_table);
    ELSE
        SELECT count(*), min(s.slot_name) FILTER (WHERE s.catalog_xmin IS NULL),
               '0'::xid8, min(wal2queue.full_xid(s.catalog_xmin, reference))
          INTO nslots, unset, from_xid, below_xid
          FROM pg_replication_slots s
         WHERE s.database = current_database() AND s.slot_type = 'logical'
           AND (s.plugin = 'wal2queue'
                OR EXISTS (SELECT FROM wal2queue.slots r WHERE r.slot_name = s.slot_name));
        IF nslots = 0 THEN
            RAISE NOTICE '%: no wal2queue slot in database "%", so no job counts as delivered',
                caller, current_database();
        END IF;
    END IF;
    IF nslots = 0 OR unset IS NOT NULL THEN
        IF unset IS NOT NULL THEN
            RAISE NOTICE '%: replication slot "%" has no catalog_xmin yet, so no job counts as delivered',
                caller, unset;
        END IF;
        reference := NULL;
        from_xid := NULL;
        below_xid := NULL;
    END IF;
END
$$;

COMMENT ON FUNCTION wal2queue.prune_horizon(regclass, boolean, text, boolean) IS
'rows of a job table with FROM_XID <= full_xid(xmin, REFERENCE) < BELOW_XID were delivered by every slot that selects it';

/*
 * prune(job_table, batch, force) -- delete up to BATCH rows of JOB_TABLE
 * that every registered slot selecting it has delivered (prune_horizon(),
 * which states the rule and its proof) and return how many were deleted.
 * Raises an error, deleting nothing, when the registry cannot vouch for the
 * table, unless FORCE.  For a partitioned table it works through the leaf
 * partitions; a ctid is only unique within one of them.
 */
CREATE FUNCTION wal2queue.prune(job_table regclass, batch integer DEFAULT 10000,
                                force boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    h record;
    leaf regclass;
    deleted bigint;
    total bigint := 0;
BEGIN
    IF job_table IS NULL THEN
        RAISE EXCEPTION 'wal2queue.prune: job_table must not be null'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF batch IS NULL OR batch < 1 THEN
        RAISE EXCEPTION 'wal2queue.prune: batch must be at least 1'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The batch was %s.', coalesce(batch::text, 'null'));
    END IF;

    h := wal2queue.prune_horizon(job_table, force, 'wal2queue.prune');
    IF h.below_xid IS NULL OR h.from_xid >= h.below_xid THEN
        RETURN 0;
    END IF;

    -- the leaf partitions, oldest first; a plain table (no partition tree)
    -- is its own only leaf
    FOR leaf IN
        SELECT l.relid FROM (
            SELECT t.relid FROM pg_partition_tree(job_table) t WHERE t.isleaf
            UNION ALL
            SELECT job_table WHERE NOT EXISTS (SELECT FROM pg_partition_tree(job_table))
        ) l ORDER BY l.relid::oid
    LOOP
        EXIT WHEN total >= batch;
        EXECUTE format('DELETE FROM ONLY %1$s WHERE ctid = ANY (ARRAY('
                       'SELECT ctid FROM ONLY %1$s '
                       'WHERE wal2queue.full_xid(xmin, $1) >= $2 AND wal2queue.full_xid(xmin, $1) < $3 '
                       'LIMIT $4))',
                       leaf)
            USING h.reference, h.from_xid, h.below_xid, batch - total;
        GET DIAGNOSTICS deleted = ROW_COUNT;
        total := total + deleted;
    END LOOP;
    RETURN total;
END
$$;

COMMENT ON FUNCTION wal2queue.prune(regclass, integer, boolean) IS
'delete up to BATCH rows of a job table that every registered slot selecting it has delivered; returns the count';

/*
 * partitions(job_table) -- the range partitions of JOB_TABLE with their
 * bounds (MINVALUE/MAXVALUE as -infinity/infinity); a DEFAULT partition is
 * not listed.  The bounds are read back from pg_get_expr() under a fixed
 * DateStyle, so they round-trip whatever the caller's settings.
 */
CREATE FUNCTION wal2queue.partitions(job_table regclass)
RETURNS TABLE (partition regclass, lower_bound timestamptz, upper_bound timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
SET datestyle = 'ISO, YMD'
AS $$
    SELECT b.oid::regclass,
           (CASE b.m[1] WHEN 'MINVALUE' THEN '-infinity' ELSE btrim(b.m[1], '''') END)::timestamptz,
           (CASE b.m[2] WHEN 'MAXVALUE' THEN 'infinity' ELSE btrim(b.m[2], '''') END)::timestamptz
      FROM (SELECT c.oid,
                   regexp_match(pg_get_expr(c.relpartbound, c.oid),
                                '^FOR VALUES FROM \((.*)\) TO \((.*)\)$') AS m
              FROM pg_inherits i
              JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = job_table) b
     WHERE b.m IS NOT NULL
     ORDER BY 2
$$;

COMMENT ON FUNCTION wal2queue.partitions(regclass) IS
'range partitions of a partitioned job table with their bounds';

/*
 * create_partitions(job_table, days_ahead) -- create the daily partitions
 * (UTC days) from today to today + DAYS_AHEAD that do not exist yet, named
 * <table>_pYYYYMMDD in the table's schema.  A day that overlaps an existing
 * partition is left alone.  Returns the partitions created.
 *
 * The bounds are written as text into CREATE TABLE: DateStyle and TimeZone
 * are pinned (ISO, UTC) so that the text is the same instant whatever the
 * caller's settings (with DateStyle=Postgres and TimeZone=Asia/Kolkata a
 * bound would read "... IST", which PostgreSQL takes for Israel time).
 */
CREATE FUNCTION wal2queue.create_partitions(job_table regclass, days_ahead integer)
RETURNS SETOF regclass
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET datestyle = 'ISO, YMD'
SET timezone = 'UTC'
AS $$
DECLARE
    nsp text;
    base text;
    day_start timestamptz;
    part text;
BEGIN
    IF job_table IS NULL THEN
        RAISE EXCEPTION 'wal2queue.create_partitions: job_table must not be null'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF days_ahead IS NULL OR days_ahead < 0 THEN
        RAISE EXCEPTION 'wal2queue.create_partitions: days_ahead must be at least 0'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The days_ahead was %s.', coalesce(days_ahead::text, 'null'));
    END IF;
    SELECT n.nspname, c.relname INTO nsp, base
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = job_table;
    -- leave room for '_pYYYYMMDD' within the 63-byte identifier limit
    WHILE octet_length(base) > 53 LOOP
        base := left(base, -1);
    END LOOP;

    FOR day_start IN
        SELECT date_trunc('day', now(), 'UTC') + d * interval '1 day'
          FROM generate_series(0, days_ahead) d
    LOOP
        CONTINUE WHEN EXISTS (SELECT 1 FROM wal2queue.partitions(job_table) p
                               WHERE p.lower_bound < day_start + interval '1 day'
                                 AND p.upper_bound > day_start);
        part := format('%I.%I', nsp,
                       base || '_p' || to_char(day_start AT TIME ZONE 'UTC', 'YYYYMMDD'));
        EXECUTE format('CREATE TABLE %s PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                       part, job_table, day_start, day_start + interval '1 day');
        RETURN NEXT part::regclass;
    END LOOP;
END
$$;

COMMENT ON FUNCTION wal2queue.create_partitions(regclass, integer) IS
'create the missing daily (UTC) partitions of a job table from today to today + DAYS_AHEAD';

/*
 * create_job_table(name, partitioned) -- create the conventional insert-only
 * job table NAME (optionally schema-qualified, parsed as SQL identifiers:
 * quote to keep case or special characters) and return it.
 *
 * Partitioned: PARTITION BY RANGE (created_at), one partition per UTC day.
 * PostgreSQL requires the partition key in every unique constraint, so the
 * primary key is then (id, created_at); id alone stays unique in practice
 * (it comes from one sequence) but is not enforced across partitions.
 * Today's and the next three days' partitions are created.
 */
CREATE FUNCTION wal2queue.create_job_table(name text, partitioned boolean DEFAULT false)
RETURNS regclass
LANGUAGE plpgsql VOLATILE
-- no SET search_path: an unqualified NAME goes to the caller's current_schema()
AS $$
DECLARE
    parts text[];
    qname text;
BEGIN
    IF name IS NULL THEN
        RAISE EXCEPTION 'wal2queue.create_job_table: name must not be null'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF partitioned IS NULL THEN
        RAISE EXCEPTION 'wal2queue.create_job_table: partitioned must not be null'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    BEGIN
        parts := pg_catalog.parse_ident(name);
    EXCEPTION WHEN invalid_parameter_value THEN
        parts := NULL;
    END;
    IF parts IS NULL OR pg_catalog.cardinality(parts) > 2 THEN
        RAISE EXCEPTION 'wal2queue.create_job_table: name must be a table name, optionally schema-qualified'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('The name was %L.', name);
    END IF;
    IF pg_catalog.cardinality(parts) = 1 THEN
        IF pg_catalog.current_schema() IS NULL THEN
            RAISE EXCEPTION 'wal2queue.create_job_table: no schema has been selected to create % in', name
                USING ERRCODE = 'invalid_schema_name';
        END IF;
        parts := ARRAY[pg_catalog.current_schema()::text] || parts;
    END IF;
    qname := pg_catalog.format('%I.%I', parts[1], parts[2]);

    EXECUTE pg_catalog.format(
        'CREATE TABLE %s ('
        'id bigserial, '
        'queue text NOT NULL, '
        'payload jsonb NOT NULL, '
        'created_at timestamptz NOT NULL DEFAULT now(), '
        'PRIMARY KEY (%s))%s',
        qname,
        CASE WHEN partitioned THEN 'id, created_at' ELSE 'id' END,
        CASE WHEN partitioned THEN ' PARTITION BY RANGE (created_at)' ELSE '' END);
    IF partitioned THEN
        PERFORM wal2queue.create_partitions(qname::regclass, 3);
    END IF;
    RETURN qname::regclass;
END
$$;

COMMENT ON FUNCTION wal2queue.create_job_table(text, boolean) IS
'create the conventional insert-only job table (id, queue, payload jsonb, created_at), optionally partitioned by day';

/*
 * maintain_partitions(job_table, days_ahead, keep_days, force) -- for a job
 * table made by create_job_table(..., true): create the partitions for
 * today .. today + DAYS_AHEAD, and drop the partitions that end KEEP_DAYS or
 * more days before today (UTC) whose every row was delivered by every slot
 * that should deliver it (prune_horizon(), the rule of prune(); FORCE as
 * there).  Old partitions that still hold an undelivered row are kept;
 * when the registry cannot vouch for the table, a WARNING says why, every
 * old partition is kept and the new ones are still created.  Returns one
 * row per partition acted on: ('created' | 'dropped' | 'kept', its name).
 *
 * Each old partition is locked in SHARE ROW EXCLUSIVE mode before it is
 * checked: that waits for transactions still inserting into it and blocks
 * new inserts, so the check sees every row the DROP would remove.
 */
CREATE FUNCTION wal2queue.maintain_partitions(job_table regclass,
                                              days_ahead integer DEFAULT 3,
                                              keep_days integer DEFAULT 7,
                                              force boolean DEFAULT false)
RETURNS TABLE (action text, partition_name text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET datestyle = 'ISO, YMD'
SET timezone = 'UTC'
AS $$
DECLARE
    h record;
    part regclass;
    part_name text;
    pending boolean;
    checked boolean := false;   -- horizon computed (only once there is an old partition)
BEGIN
    IF job_table IS NULL THEN
        RAISE EXCEPTION 'wal2queue.maintain_partitions: job_table must not be null'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF (SELECT c.relkind FROM pg_class c WHERE c.oid = job_table) <> 'p'
       OR pg_get_partkeydef(job_table) <> 'RANGE (created_at)' THEN
        RAISE EXCEPTION 'wal2queue.maintain_partitions: job_table must be partitioned by range (created_at)'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The table was %s.', job_table);
    END IF;
    IF days_ahead IS NULL OR days_ahead < 0 THEN
        RAISE EXCEPTION 'wal2queue.maintain_partitions: days_ahead must be at least 0'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF keep_days IS NULL OR keep_days < 0 THEN
        RAISE EXCEPTION 'wal2queue.maintain_partitions: keep_days must be at least 0'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF force IS NULL THEN
        RAISE EXCEPTION 'wal2queue.maintain_partitions: force must not be null'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    FOR part IN SELECT * FROM wal2queue.create_partitions(job_table, days_ahead) LOOP
        RETURN QUERY SELECT 'created', part::text;
    END LOOP;

    FOR part IN
        SELECT p.partition FROM wal2queue.partitions(job_table) p
         WHERE p.upper_bound <= date_trunc('day', now(), 'UTC') - keep_days * interval '1 day'
    LOOP
        IF NOT checked THEN
            h := wal2queue.prune_horizon(job_table, force, 'wal2queue.maintain_partitions', false);
            checked := true;
        END IF;
        pending := true;
        IF h.below_xid IS NOT NULL THEN
            EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', part);
            EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE NOT ('
                           'wal2queue.full_xid(xmin, $1) >= $2 AND wal2queue.full_xid(xmin, $1) < $3))',
                           part)
                INTO pending USING h.reference, h.from_xid, h.below_xid;
        END IF;
        part_name := part::text;
        IF pending THEN
            RETURN QUERY SELECT 'kept', part_name;
        ELSE
            EXECUTE format('DROP TABLE %s', part_name);
            RETURN QUERY SELECT 'dropped', part_name;
        END IF;
    END LOOP;
END
$$;

COMMENT ON FUNCTION wal2queue.maintain_partitions(regclass, integer, integer, boolean) IS
'create upcoming daily partitions of a job table and drop old ones whose rows every slot selecting it has delivered';

/*
 * status -- one row per wal2queue slot (of any database) and per slot of
 * another plugin (pgoutput) registered in this database: how far behind the
 * bridge is and how much WAL the slot holds back, measured from the current
 * WAL position (on a standby: the last replayed position).
 *   lag_bytes       WAL written but not yet confirmed (current LSN - confirmed_flush_lsn)
 *   retained_bytes  WAL kept for the slot (current LSN - restart_lsn)
 *   wal_status, safe_wal_size  as in pg_replication_slots
 */
CREATE VIEW wal2queue.status AS
SELECT s.slot_name,
       s.active,
       s.active_pid,
       s.confirmed_flush_lsn,
       w.lsn - s.confirmed_flush_lsn AS lag_bytes,
       w.lsn - s.restart_lsn AS retained_bytes,
       s.wal_status,
       s.safe_wal_size,
       s.database
  FROM pg_catalog.pg_replication_slots s,
       LATERAL (SELECT CASE WHEN pg_catalog.pg_is_in_recovery()
                            THEN pg_catalog.pg_last_wal_replay_lsn()
                            ELSE pg_catalog.pg_current_wal_lsn() END AS lsn) w
 WHERE s.plugin = 'wal2queue'
    OR (s.database = pg_catalog.current_database()
        AND EXISTS (SELECT FROM wal2queue.slots r WHERE r.slot_name OPERATOR(pg_catalog.=) s.slot_name));

COMMENT ON VIEW wal2queue.status IS
'one row per wal2queue replication slot: activity, confirmed position, lag and retained WAL';
