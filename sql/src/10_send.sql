-- sql/src/10_send.sql -- send(): a job as a transactional logical message
-- (part of the wal2queue extension script: see 00_install.sql)

/*
 * send_xid_busy(x, snap) -- may the transaction X (a full xid, top-level or
 * a subtransaction's) that updated or locked the key row matter to a send()
 * whose snapshot is SNAP?
 *
 * It matters when SNAP does not see it: running, or committed after SNAP.
 * pg_visible_in_snapshot() knows top-level xids only (a pg_snapshot has no
 * subxip): a subtransaction's xid below SNAP's xmax and not in its xip reads
 * as "ended before SNAP" whatever its top-level transaction does (a
 * revocation under a SAVEPOINT, an EXCEPTION block, a driver's autosave,
 * test/t/540).  So an xid SNAP seems to see is asked for its status
 * (pg_xact_status(): the server's answer, subtransactions included):
 * running (prepared ones too) matters; aborted, or older than the commit
 * log, does not; committed matters when a transaction of SNAP's xip at or
 * below X (X's top-level one, if X is a subtransaction's: a parent's xid is
 * always lower) has committed since SNAP, and never below SNAP's xmin (its
 * top-level transaction ended before SNAP).  An xid SNAP sees that ended
 * before it is a lock or an abort (an UPDATE's old version would be
 * invisible).
 */
CREATE FUNCTION wal2queue.send_xid_busy(x xid8, snap pg_snapshot)
RETURNS boolean
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    status pg_catalog.text;
BEGIN
    IF x::text::bigint OPERATOR(pg_catalog.<) 3
       OR NOT pg_catalog.pg_visible_in_snapshot(x, snap) THEN
        RETURN true;
    END IF;
    -- below SNAP's xmax, so not in the future: no error
    status := pg_catalog.pg_xact_status(x);
    IF status OPERATOR(pg_catalog.=) 'in progress' THEN
        RETURN true;
    END IF;
    RETURN status OPERATOR(pg_catalog.=) 'committed'
        AND x OPERATOR(pg_catalog.>=) pg_catalog.pg_snapshot_xmin(snap)
        AND EXISTS (SELECT FROM pg_catalog.pg_snapshot_xip(snap) AS t(top)
                    WHERE t.top OPERATOR(pg_catalog.<=) x
                      AND pg_catalog.pg_xact_status(t.top) OPERATOR(pg_catalog.=) 'committed');
END
$$;

REVOKE EXECUTE ON FUNCTION wal2queue.send_xid_busy(xid8, pg_snapshot) FROM PUBLIC;

/*
 * send_key_busy(raw, reference) -- may the key row's raw xmax RAW matter to
 * a send() of top-level transaction REFERENCE in the current snapshot?
 *
 * SQL sees the raw xmax only, not whether it is an xid or a MultiXactId, so
 * both readings are judged.  As an xid (full_xid(): the one nearest to the
 * caller's; a live
 * xid and a row's xmax are within 2^31 of each other, whichever is newer,
 * test/t/517): send_xid_busy() says.  As a
 * MultiXactId (a value within the table's relminmxid and the next one,
 * whose members pg_get_multixact_members() lists): it matters when a
 * member that updates, or locks FOR UPDATE (revoke_message_key() does,
 * then updates), matters by send_xid_busy(); share lockers never
 * matter, so a MultiXact of send()s' or anyone's share locks, running or
 * not, asks nothing (test/t/530).  A MultiXactId the server no longer (or
 * not yet) knows matters.  What remains: a plain xid that happens to lie in
 * the MultiXact range is also read as a MultiXact, whose members may make
 * one send() ask without need (a wait, no error); a MultiXactId read as an
 * xid may be one that runs, or that SNAP does not see (the same).
 *
 * RAW is not 0 (send() tests that first).  No SET clause (it costs more than
 * the rest of the function): called only from send(), whose search_path is
 * pinned, and executable by its owner only; every name is qualified.
 */
CREATE FUNCTION wal2queue.send_key_busy(raw xid, reference xid8)
RETURNS boolean
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    snap pg_catalog.pg_snapshot := pg_catalog.pg_current_snapshot();
    age pg_catalog.int4;
    member record;
BEGIN
    -- as an xid (1 and 2 are none: MultiXactIds only); one before the
    -- first epoch is a value from the future
    IF raw::text::bigint OPERATOR(pg_catalog.>=) 3
       AND wal2queue.send_xid_busy(wal2queue.full_xid(raw, reference), snap) THEN
        RETURN true;
    END IF;
    age := pg_catalog.mxid_age(raw);
    IF age OPERATOR(pg_catalog.<=) 0 OR age OPERATOR(pg_catalog.>) (
           SELECT pg_catalog.mxid_age(c.relminmxid) FROM pg_catalog.pg_class c
           WHERE c.oid OPERATOR(pg_catalog.=) 'wal2queue.message_key'::regclass) THEN
        RETURN false;
    END IF;
    BEGIN
        FOR member IN SELECT * FROM pg_catalog.pg_get_multixact_members(raw) LOOP
            CONTINUE WHEN member.mode OPERATOR(pg_catalog.=) ANY (ARRAY['keysh', 'sh']);
            IF wal2queue.send_xid_busy(wal2queue.full_xid(member.xid, reference), snap) THEN
                RETURN true;
            END IF;
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        RETURN true;
    END;
    RETURN false;
END
$$;

REVOKE EXECUTE ON FUNCTION wal2queue.send_key_busy(xid, xid8) FROM PUBLIC;

/*
 * send_key_holders(kid, reference) -- the prepared transactions that hold
 * key KID's row against a FOR SHARE of a send() of top-level transaction
 * REFERENCE (send_key_wait()).
 *
 * gids: the quoted gids, or NULL while a live session may hold the row (it
 * is waited for) or when nothing holds it any more (the next try gets it);
 * exact: whether gids names the one transaction that holds it.
 *
 * The holders are the row's xmax read now: as an xid, and, when it is a
 * MultiXactId the server knows, its members that update or lock FOR UPDATE
 * (share lockers block no FOR SHARE).  Each is judged from pg_locks and
 * pg_prepared_xacts:
 *   - a prepared transaction's xid: that transaction holds the row (exact);
 *   - an xid whose lock a session holds (its top-level transaction, or a
 *     subtransaction not yet released): a live holder, waited for;
 *   - an xid that is not running: ended, nothing to name;
 *   - otherwise the xid of a released subtransaction (RELEASE SAVEPOINT,
 *     the end of an EXCEPTION block, also before a PREPARE, drops its xid's
 *     lock; SQL cannot name its parent).  Its top-level transaction began
 *     before it and holds a lock on wal2queue.message_key stronger than
 *     ACCESS SHARE (a row lock takes ROW SHARE, an UPDATE ROW EXCLUSIVE,
 *     revoke_message_key() SHARE ROW EXCLUSIVE).  While a live session among
 *     those may be the holder it is waited for (one that holds ROW SHARE
 *     only and waits for a lock is another send() waiting here: it counts
 *     not); otherwise the prepared transactions among them are named, exact
 *     when one.  A prepared transaction that never locked the table is never
 *     named (test/t/585).
 * A prepared transaction's locks show in pg_locks with no pid, under one
 * virtual transaction that its xid's lock shares (its own before a restart,
 * -1/xid after one).  A top-level xid is below its subtransactions'.
 */
CREATE FUNCTION wal2queue.send_key_holders(kid bigint, reference xid8,
                                           OUT gids text, OUT exact boolean)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    raw pg_catalog.xid;
    xids pg_catalog.xid[];
    x pg_catalog.xid;
    fx pg_catalog.xid8;
    age pg_catalog.int4;
    live pg_catalog.bool;
    n pg_catalog.int8;
    g pg_catalog.text;
    st pg_catalog.text;
BEGIN
    exact := true;
    SELECT m.xmax INTO raw FROM wal2queue.message_key m WHERE m.id OPERATOR(pg_catalog.=) kid;
    IF raw IS NULL OR raw::text OPERATOR(pg_catalog.=) '0' THEN
        RETURN;
    END IF;
    xids := ARRAY[raw];
    age := pg_catalog.mxid_age(raw);
    IF age OPERATOR(pg_catalog.>) 0 AND age OPERATOR(pg_catalog.<=) (
           SELECT pg_catalog.mxid_age(c.relminmxid) FROM pg_catalog.pg_class c
           WHERE c.oid OPERATOR(pg_catalog.=) 'wal2queue.message_key'::regclass) THEN
        BEGIN
            xids := xids OPERATOR(pg_catalog.||) ARRAY(
                SELECT m.xid FROM pg_catalog.pg_get_multixact_members(raw) m
                WHERE m.mode OPERATOR(pg_catalog.<>) ALL (ARRAY['keysh', 'sh']));
        EXCEPTION WHEN OTHERS THEN
            NULL;   -- not a MultiXactId the server knows
        END;
    END IF;
    -- a prepared transaction's own xid
    SELECT pg_catalog.string_agg(pg_catalog.quote_literal(p.gid), ', ' ORDER BY p.prepared) INTO gids
        FROM pg_catalog.pg_prepared_xacts p
        WHERE p.database OPERATOR(pg_catalog.=) pg_catalog.current_database()
          AND p.transaction OPERATOR(pg_catalog.=) ANY (xids);
    IF gids IS NOT NULL THEN
        RETURN;
    END IF;
    FOREACH x IN ARRAY xids LOOP
        CONTINUE WHEN x::text::bigint OPERATOR(pg_catalog.<) 3;
        -- a session holds its lock: live
        IF EXISTS (SELECT FROM pg_catalog.pg_locks l
                   WHERE l.locktype OPERATOR(pg_catalog.=) 'transactionid'
                     AND l.transactionid OPERATOR(pg_catalog.=) x
                     AND l.granted AND l.pid IS NOT NULL) THEN
            gids := NULL;
            RETURN;
        END IF;
        fx := wal2queue.full_xid(x, reference);
        BEGIN
            st := pg_catalog.pg_xact_status(fx);
        EXCEPTION WHEN OTHERS THEN
            st := NULL;     -- in the future: a MultiXactId read as an xid
        END;
        CONTINUE WHEN st IS DISTINCT FROM 'in progress';
        -- a released subtransaction's: the transactions that began before
        -- it and lock the table
        WITH l AS MATERIALIZED (
                 SELECT l.locktype, l.database, l.relation, l.transactionid,
                        l.virtualtransaction, l.pid, l.mode, l.granted
                 FROM pg_catalog.pg_locks l),
             tops AS (
                 SELECT l.virtualtransaction AS vt, l.pid,
                        pg_catalog.min(wal2queue.full_xid(l.transactionid, reference)) AS top
                 FROM l
                 WHERE l.locktype OPERATOR(pg_catalog.=) 'transactionid' AND l.granted
                   AND l.mode OPERATOR(pg_catalog.=) 'ExclusiveLock'
                 GROUP BY l.virtualtransaction, l.pid),
             rel AS (
                 SELECT l.virtualtransaction AS vt, l.pid,
                        pg_catalog.bool_or(l.mode OPERATOR(pg_catalog.<>) 'RowShareLock') AS writes
                 FROM l
                 WHERE l.locktype OPERATOR(pg_catalog.=) 'relation' AND l.granted
                   AND l.relation OPERATOR(pg_catalog.=) 'wal2queue.message_key'::regclass
                   AND l.database OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d
                                       WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
                   AND l.mode OPERATOR(pg_catalog.<>) 'AccessShareLock'
                 GROUP BY l.virtualtransaction, l.pid),
             cand AS (
                 SELECT t.pid, t.top, r.writes
                 FROM tops t JOIN rel r
                   ON r.vt OPERATOR(pg_catalog.=) t.vt AND r.pid IS NOT DISTINCT FROM t.pid
                 WHERE t.top OPERATOR(pg_catalog.<) fx
                   AND t.pid IS DISTINCT FROM pg_catalog.pg_backend_pid())
        SELECT pg_catalog.bool_or(c.pid IS NOT NULL AND (c.writes OR NOT EXISTS (
                       SELECT FROM l WHERE l.pid OPERATOR(pg_catalog.=) c.pid AND NOT l.granted))),
               pg_catalog.string_agg(pg_catalog.quote_literal(p.gid), ', ' ORDER BY p.prepared),
               pg_catalog.count(p.gid)
            INTO live, g, n
            FROM cand c
            LEFT JOIN pg_catalog.pg_prepared_xacts p
              ON c.pid IS NULL
             AND p.database OPERATOR(pg_catalog.=) pg_catalog.current_database()
             AND wal2queue.full_xid(p.transaction, reference) OPERATOR(pg_catalog.=) c.top;
        IF live OR g IS NULL THEN
            gids := NULL;   -- a live session may hold it, or none found: wait
            RETURN;
        END IF;
        gids := g;
        exact := n OPERATOR(pg_catalog.=) 1;
        RETURN;
    END LOOP;
END
$$;

REVOKE EXECUTE ON FUNCTION wal2queue.send_key_holders(bigint, xid8) FROM PUBLIC;

/*
 * send_key_wait(kid, rc, reference) -- wait until key KID's row can be
 * locked FOR SHARE, for a send() of top-level transaction REFERENCE, and
 * say whether the key may sign: true when the lock was granted on the row
 * not revoked; false when it is revoked (RC, READ COMMITTED: its newest
 * version) or changed after the transaction's snapshot (otherwise: a
 * serialization failure).  The lock is taken in a subtransaction rolled
 * back at once: it leaves none that later send()s would wait for or make
 * MultiXacts with (test/t/530).  Once granted, no revocation of the key
 * runs (revoke_message_key() locks the row FOR UPDATE before it updates
 * it): one that begins later began after send() chose the key.
 *
 * A prepared transaction that holds the row is not waited for: it holds it
 * until COMMIT PREPARED or ROLLBACK PREPARED, across disconnects and
 * restarts (test/t/542).  So the row is asked in tries of a bounded wait
 * (the larger of 1 s and deadlock_timeout + 0.5 s, at most 5 s: long enough
 * for the server's deadlock check to run during each), and before the first
 * and after each try not granted send_key_holders() looks for a prepared
 * holder: one found before a try is asked without waiting (a prepared share
 * lock refuses nothing), one found after it -- the awaited transaction
 * prepared meanwhile (test/t/583) -- ends the wait with an error naming it.
 * A live holder is waited for try after try, with no bound but the
 * caller's statement_timeout and lock_timeout: the caller's lock_timeout is
 * the bound of the whole wait, and its error is the server's.
 */
CREATE FUNCTION wal2queue.send_key_wait(kid bigint, rc boolean, reference xid8)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    budget pg_catalog.float8 := pg_catalog.date_part('epoch',
        pg_catalog.current_setting('lock_timeout')::pg_catalog.interval) OPERATOR(pg_catalog.*) 1000;
    poll pg_catalog.float8 := LEAST(5000, GREATEST(1000, pg_catalog.date_part('epoch',
        pg_catalog.current_setting('deadlock_timeout')::pg_catalog.interval) OPERATOR(pg_catalog.*) 1000
        OPERATOR(pg_catalog.+) 500));
    start pg_catalog.timestamptz := pg_catalog.clock_timestamp();
    tmo pg_catalog.float8;
    last pg_catalog.bool;
    got pg_catalog.bool;
    hg pg_catalog.text;
    hx pg_catalog.bool;
BEGIN
    LOOP
        hg := NULL;
        IF EXISTS (SELECT FROM pg_catalog.pg_prepared_xacts p
                   WHERE p.database OPERATOR(pg_catalog.=) pg_catalog.current_database()) THEN
            SELECT * INTO hg, hx FROM wal2queue.send_key_holders(kid, reference);
        END IF;
        tmo := poll;
        last := false;
        IF hg IS NOT NULL THEN
            tmo := 1;   -- a prepared holder: not waited for
        ELSIF budget OPERATOR(pg_catalog.>) 0 THEN
            tmo := budget OPERATOR(pg_catalog.-) (pg_catalog.date_part('epoch',
                pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) start) OPERATOR(pg_catalog.*) 1000);
            IF tmo OPERATOR(pg_catalog.<=) poll THEN
                tmo := GREATEST(tmo, 1);
                last := true;
            ELSE
                tmo := poll;
            END IF;
        END IF;
        got := NULL;
        BEGIN
            PERFORM pg_catalog.set_config('lock_timeout',
                pg_catalog.concat(pg_catalog.ceil(tmo)::pg_catalog.int8, 'ms'), true);
            IF rc THEN
                SELECT true INTO got FROM wal2queue.message_key m
                    WHERE m.id OPERATOR(pg_catalog.=) kid AND NOT m.revoked FOR SHARE;
            ELSE
                SELECT NOT m.revoked INTO got FROM wal2queue.message_key m
                    WHERE m.id OPERATOR(pg_catalog.=) kid FOR SHARE;
            END IF;
            RAISE SQLSTATE 'W2QRB';
        EXCEPTION
            WHEN SQLSTATE 'W2QRB' THEN
                RETURN COALESCE(got, false);
            WHEN serialization_failure THEN
                RETURN false;
            WHEN lock_not_available THEN
                IF hg IS NULL AND NOT last THEN
                    CONTINUE;   -- not granted within the try: look again
                END IF;
                IF hg IS NULL THEN
                    RAISE;      -- the caller's lock_timeout
                END IF;
        END;
        RAISE EXCEPTION 'wal2queue.send: key % of wal2queue.message_key is locked by the prepared transaction %', kid, hg
            USING ERRCODE = 'lock_not_available',
                  DETAIL = CASE WHEN hx THEN '' ELSE 'Its holder is a released subtransaction of one of these prepared transactions, which began before it and lock the table. ' END
                           OPERATOR(pg_catalog.||) 'A prepared transaction holds the key''s row until COMMIT PREPARED or ROLLBACK PREPARED, across restarts; send() does not wait for it.',
                  HINT = pg_catalog.format('Finish it (COMMIT PREPARED %s or ROLLBACK PREPARED %s, as the transaction manager decides), then retry.', hg, hg);
    END LOOP;
END
$$;

REVOKE EXECUTE ON FUNCTION wal2queue.send_key_wait(bigint, boolean, xid8) FROM PUBLIC;

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
    kbusy boolean; rc boolean;
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
    -- the full 64-bit top-level xid: the bridge extends pgoutput's 32 bits
    xid := pg_catalog.pg_current_xact_id()::text::bigint;
    /*
     * The newest key not revoked, and whether its row's xmax may matter,
     * judged in the snapshot that read it (in READ COMMITTED a later
     * statement's snapshot could see the revocation committed and take the
     * xmax for the past).  A revocation this snapshot does not see: a
     * REPEATABLE READ snapshot older than it still shows the key's row as it
     * was (its xmax the revoking transaction), and in any isolation level a
     * revocation may be running.  The bridge drops a message signed with a
     * revoked key, so only an xmax that may matter asks the row itself
     * (send_key_busy(): an updater, or a transaction that may still update,
     * not visible in the snapshot, a subtransaction's included, test/t/540;
     * a lock-only xmax of others refuses nothing), and send_key_wait() asks
     * it: it waits for a running revocation (a prepared one is not waited
     * for: an error names it, test/t/542, 583) and gets the server's
     * verdict, a serialization failure under REPEATABLE READ for an UPDATE
     * committed after the snapshot, the newest version under READ
     * COMMITTED.  It locks nothing that stays (test/t/530): on the hot path,
     * a key whose xmax asks nothing, send() writes nothing to the key's row,
     * so send()s make no MultiXacts of each other.  REPEATABLE READ and
     * SERIALIZABLE refuse a revoked key (test/t/472, 517); READ COMMITTED
     * picks again in a new snapshot, the newest key not revoked, and judges
     * that one the same way until one may sign (test/t/531, 581): it never
     * fails for a rotation, and never signs with a key whose revocation had
     * begun when send() chose it.  A revocation that starts after this and
     * commits before this transaction is docs/managed.md's "signed before
     * the revocation": its message is dropped by the bridge.
     */
    LOOP
        SELECT k.id, k.ipad, k.opad,
               k.xmax::text OPERATOR(pg_catalog.<>) '0' AND wal2queue.send_key_busy(k.xmax, xid::text::xid8)
            INTO kid, ipad, opad, kbusy
            FROM (SELECT m.id, m.ipad, m.opad, m.xmax FROM wal2queue.message_key m
                  WHERE NOT m.revoked ORDER BY m.id DESC LIMIT 1) k;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'wal2queue.send: the table wal2queue.message_key holds no key that is not revoked'
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Add one: SELECT wal2queue.rotate_message_key();';
        END IF;
        EXIT WHEN NOT kbusy;
        rc := pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.=) 'read committed';
        EXIT WHEN wal2queue.send_key_wait(kid, rc, xid::text::xid8);
        IF NOT rc THEN
            RAISE EXCEPTION 'wal2queue.send: key % of wal2queue.message_key was revoked or changed after this transaction''s snapshot', kid
                USING ERRCODE = 'serialization_failure',
                      HINT = 'Retry the transaction.';
        END IF;
    END LOOP;
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
