-- sql/src/10_send.sql -- send(): a job as a transactional logical message
-- (part of the wal2queue extension script: see 00_install.sql)

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
 * The message is signed: its prefix is 'wal2queue!' || ID || '.' || MAC ||
 * ':' || target [|| '#' || key], where ID is the decimal id of the newest
 * key of wal2queue.message_key that is not revoked (05_message_key.sql) and
 * MAC the lower-case hex of HMAC-SHA256 with that key over
 *     int8send(xid) || prefix || '\x00' || payload
 * xid the transaction's full 64-bit top-level ID (pg_current_xact_id(): the
 * epoch too, so that a copy replayed 2^32 transactions later does not
 * verify, test/t/454), prefix the unsigned 'wal2queue:' || target [|| '#'
 * || key] and payload the message's bytes, so a signature is valid for one
 * transaction, one target, key and payload only.  The plugin strips the
 * signature; a bridge on pgoutput verifies it (plugin/FORMAT.md, "Signed
 * messages").
 *
 * SECURITY DEFINER, executable by wal2queue_sender: it can only emit
 * messages with the 'wal2queue:' prefix, so a role may be granted send()
 * without pg_logical_emit_message().  Its search_path is pinned
 * (pg_catalog, pg_temp): qualifying every function and operator was not
 * enough, since PL/pgSQL resolves the types of its variables and casts
 * with the caller's search_path when it compiles the function, so a
 * caller's temporary type "text" with an assignment cast ran the caller's
 * code as send()'s owner (test/t/450).  The clause costs a few
 * microseconds a call, next to the signature's ~25.
 */
CREATE FUNCTION wal2queue.send(target text, payload text, key text DEFAULT NULL)
RETURNS pg_lsn
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    prefix text;
    body bytea;
    kid bigint;
    ipad bytea;
    opad bytea;
    xid bigint;
    kxmax bigint; kraw xid; krevoked boolean;
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

    prefix := pg_catalog.concat('wal2queue:', target, '#' OPERATOR(pg_catalog.||) key);
    body := pg_catalog.convert_to(payload, pg_catalog.getdatabaseencoding());
    SELECT m.id, m.ipad, m.opad, m.xmax::pg_catalog.text::bigint, m.xmax INTO kid, ipad, opad, kxmax, kraw
        FROM wal2queue.message_key m
        WHERE NOT m.revoked ORDER BY m.id DESC LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'wal2queue.send: the table wal2queue.message_key holds no key that is not revoked'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Add one: SELECT wal2queue.rotate_message_key();';
    END IF;
    -- the full 64-bit top-level xid: the bridge extends pgoutput's 32 bits
    xid := pg_catalog.pg_current_xact_id()::text::bigint;
    /*
     * A snapshot older than a revocation (REPEATABLE READ) still sees the
     * key's row as it was: its xmax is then the revoking transaction.  The
     * bridge drops a message signed with a revoked key, so refuse it here.
     * The xmax as a full xid is the one nearest to xid (a live xid and a
     * row's xmax are within 2^31 of each other, whichever is newer: the
     * caller may have written before the revoker's xid was assigned,
     * test/t/517).  Only an xmax this snapshot cannot judge asks the row
     * itself, with FOR SHARE (the server's own rules: an UPDATE committed
     * after the snapshot is a serialization failure under REPEATABLE READ,
     * the newest version under READ COMMITTED, a running one is waited
     * for, a lock-only xmax is no UPDATE, a MultiXact's members are
     * followed): an xmax not visible in the snapshot, or a value that may
     * be a MultiXactId (within the table's relminmxid and the next one).
     * An xmax of a transaction that ended before the snapshot is a lock or
     * an abort (an UPDATE's old version would be invisible): nothing to
     * ask, so a committed lock-only xmax refuses nothing; the common case
     * (xmax 0 or old) takes no lock: FOR SHARE on every send() would make
     * MultiXacts of concurrent ones (test/t/472, 517).
     */
    IF kxmax OPERATOR(pg_catalog.<>) 0 THEN
        kxmax := kxmax OPERATOR(pg_catalog.-) (xid OPERATOR(pg_catalog.%) 4294967296);
        IF kxmax OPERATOR(pg_catalog.>=) 2147483648 THEN
            kxmax := kxmax OPERATOR(pg_catalog.-) 4294967296;
        ELSIF kxmax OPERATOR(pg_catalog.<) -2147483648 THEN
            kxmax := kxmax OPERATOR(pg_catalog.+) 4294967296;
        END IF;
        kxmax := xid OPERATOR(pg_catalog.+) kxmax;
        IF kxmax OPERATOR(pg_catalog.<=) 0
           OR NOT pg_catalog.pg_visible_in_snapshot(kxmax::pg_catalog.text::pg_catalog.xid8,
                                                    pg_catalog.pg_current_snapshot())
           OR (pg_catalog.mxid_age(kraw) OPERATOR(pg_catalog.>) 0
               AND pg_catalog.mxid_age(kraw) OPERATOR(pg_catalog.<=) (
                   SELECT pg_catalog.mxid_age(c.relminmxid) FROM pg_catalog.pg_class c
                   WHERE c.oid OPERATOR(pg_catalog.=) 'wal2queue.message_key'::pg_catalog.regclass)) THEN
            BEGIN
                SELECT m.revoked INTO krevoked FROM wal2queue.message_key m
                    WHERE m.id OPERATOR(pg_catalog.=) kid FOR SHARE;
            EXCEPTION WHEN serialization_failure THEN
                krevoked := true;
            END;
            IF krevoked THEN
                RAISE EXCEPTION 'wal2queue.send: key % of wal2queue.message_key was revoked or changed after this transaction''s snapshot', kid
                    USING ERRCODE = 'serialization_failure',
                          HINT = 'Retry the transaction.';
            END IF;
        END IF;
    END IF;
    RETURN pg_catalog.pg_logical_emit_message(
        true,
        pg_catalog.concat('wal2queue!', kid, '.',
            pg_catalog.encode(pg_catalog.sha256(opad OPERATOR(pg_catalog.||) pg_catalog.sha256(
                ipad OPERATOR(pg_catalog.||) pg_catalog.int8send(xid)
                OPERATOR(pg_catalog.||) pg_catalog.convert_to(prefix, 'UTF8')
                OPERATOR(pg_catalog.||) pg_catalog.decode('00', 'hex') OPERATOR(pg_catalog.||) body)), 'hex'),
            pg_catalog.substr(prefix, 10)),
        body);
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
