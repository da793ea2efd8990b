/*
 * sql/src/00_install.sql -- the wal2queue extension, version 1.0: its
 * first part.  The Makefile concatenates the files of sql/src in name
 * order into the extension script wal2queue--1.0.sql, and
 * make-standalone.sh turns them into wal2queue-standalone.sql (the same
 * objects without CREATE EXTENSION).  The parts, each a concern:
 *   00_install      the install checks: the schema is ours; who may emit
 *                   wal2queue messages
 *   05_message_key  the key that signs send()'s messages
 *   10_send         send()
 *   20_slots        the slot registry and the functions that write it
 *   25_append_only  the append-only guard of job tables, the record of
 *                   its state (event triggers, append_only()), and the
 *                   guard floor
 *   30_prune        prune() and the rule it deletes by
 *   40_job_tables   create_job_table(), the daily partitions
 *   50_status       the status view
 *   60_schema_rename  the event trigger that makes pgoutput describe a
 *                   renamed schema's tables again (the pgoutput bridge)
 * A function's body is checked when it is created by the standalone script
 * (CREATE EXTENSION does not check them): define what a SQL function calls
 * before it.
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
 *    send() signs its messages with the key in wal2queue.message_key
 *    (05_message_key), readable only by the installing role (and whom it
 *    grants SELECT: the bridge's role on pgoutput, which verifies them where
 *    no one could revoke the function from PUBLIC: docs/managed.md).
 *  - register_slot(), unregister_slot(), attest_slot() and
 *    mark_backfilled() are SECURITY DEFINER and check that the session's
 *    login role has REPLICATION (or is a superuser).
 *  - guard_on_rewrite() and guard_on_alter() are SECURITY DEFINER event
 *    trigger functions (no one can call them directly): they record in
 *    wal2queue.guard_events and hand the rewritten tables from one to the
 *    other through wal2queue.guard_rewrites, which only the owner may
 *    write (never through a setting a role could SET); so is
 *    record_guard() (append_only() calls it), which checks that the
 *    session's login role is a member of the table's owner.
 *  Every function called from a SECURITY DEFINER function without a SET
 *  search_path clause, and every operator there, is qualified with
 *  pg_catalog; the others have SET search_path = pg_catalog, pg_temp.
 *  A call of one of the extension's own functions on a SECURITY DEFINER
 *  path passes every argument of the exact parameter type, cast where
 *  it is not (no default, no named notation, no implicit cast): a role
 *  given CREATE on the schema after the install could otherwise add an
 *  overload that matches better and runs as the owner (test/t/368).  A
 *  string literal may stay uncast: no SQL or PL/pgSQL function takes type
 *  unknown, and of the string types text is preferred.
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
    -- send() runs as the installing role (SECURITY DEFINER): one that is no
    -- superuser (the standalone script) must be a member of
    -- wal2queue_sender to send once a superuser revoked the function from
    -- PUBLIC, as the WARNING below asks (TAP 440)
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
       AND NOT pg_has_role(current_user, 'wal2queue_sender', 'USAGE') THEN
        BEGIN
            EXECUTE format('GRANT wal2queue_sender TO %I', current_user);
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE WARNING 'role "%" is no member of wal2queue_sender and may not make itself one', current_user
                USING DETAIL = 'send() runs as that role: it fails once pg_logical_emit_message() is revoked from PUBLIC.',
                      HINT = format('Have a role with CREATEROLE run: GRANT wal2queue_sender TO %I;', current_user);
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
            USING DETAIL = 'Any role that can log in can still emit a wal2queue message.  send() signs its messages: a bridge on pgoutput whose role may read wal2queue.message_key (GRANT SELECT) makes jobs of those alone; the wal2queue plugin makes jobs of none.',
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
