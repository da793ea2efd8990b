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
 * send_key_probe(kid, raw, reference) -- refuse to wait for a prepared
 * transaction that holds key KID's row (raw xmax RAW) for a send() of
 * top-level transaction REFERENCE.
 *
 * A revocation left prepared (PREPARE TRANSACTION, then a coordinator that
 * crashed or waits) holds the row until COMMIT PREPARED or ROLLBACK
 * PREPARED, across disconnects and restarts; send()'s FOR SHARE would wait
 * for it with no bound (test/t/542).  Without a prepared transaction in
 * this database nothing is done (one look at pg_prepared_xacts).  The row
 * is asked FOR SHARE in a subtransaction rolled back at once: NOWAIT when
 * RAW is the xid of a prepared transaction, or of an updating member of
 * the MultiXact RAW (a prepared share lock blocks nothing and refuses
 * nothing); otherwise (a subtransaction's xid, which names no top-level
 * transaction in SQL) with lock_timeout = 1s: a holder that ends within the
 * second costs that wait.  A lock not granted is an error naming the
 * prepared transaction (or those that began before RAW and may hold it).
 * Found none: a running transaction of a live session, which send() waits
 * for as before.
 */
CREATE FUNCTION wal2queue.send_key_probe(kid bigint, raw xid, reference xid8)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    gids pg_catalog.text;
    exact pg_catalog.bool := true;
    mx pg_catalog.int4;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_prepared_xacts p
                   WHERE p.database OPERATOR(pg_catalog.=) pg_catalog.current_database()) THEN
        RETURN;
    END IF;
    SELECT pg_catalog.string_agg(pg_catalog.quote_literal(p.gid), ', ' ORDER BY p.prepared) INTO gids
        FROM pg_catalog.pg_prepared_xacts p
        WHERE p.database OPERATOR(pg_catalog.=) pg_catalog.current_database()
          AND p.transaction OPERATOR(pg_catalog.=) raw;
    IF gids IS NULL THEN
        mx := pg_catalog.mxid_age(raw);
        BEGIN
            IF mx OPERATOR(pg_catalog.>) 0 THEN
                SELECT pg_catalog.string_agg(pg_catalog.quote_literal(p.gid), ', ' ORDER BY p.prepared) INTO gids
                    FROM pg_catalog.pg_prepared_xacts p
                    JOIN pg_catalog.pg_get_multixact_members(raw) m
                      ON m.xid OPERATOR(pg_catalog.=) p.transaction
                    WHERE p.database OPERATOR(pg_catalog.=) pg_catalog.current_database()
                      AND m.mode OPERATOR(pg_catalog.<>) ALL (ARRAY['keysh', 'sh']);
            END IF;
        EXCEPTION WHEN OTHERS THEN
            NULL;   -- not a MultiXactId the server knows
        END;
    END IF;
    -- the row asked in a subtransaction rolled back at once: not at all
    -- for a prepared holder named, a second for one that may be
    BEGIN
        IF gids IS NOT NULL THEN
            PERFORM FROM wal2queue.message_key m WHERE m.id OPERATOR(pg_catalog.=) kid FOR SHARE NOWAIT;
        ELSE
            PERFORM pg_catalog.set_config('lock_timeout', '1s', true);
            PERFORM FROM wal2queue.message_key m WHERE m.id OPERATOR(pg_catalog.=) kid FOR SHARE;
        END IF;
        RAISE SQLSTATE 'W2QRB';
    EXCEPTION
        WHEN lock_not_available THEN
            -- a subtransaction's parent began before it; RAW a live
            -- session's transaction is no prepared one's
            IF gids IS NULL AND NOT EXISTS (SELECT FROM pg_catalog.pg_stat_activity a
                                            WHERE a.backend_xid OPERATOR(pg_catalog.=) raw) THEN
                SELECT pg_catalog.string_agg(pg_catalog.quote_literal(p.gid), ', ' ORDER BY p.prepared) INTO gids
                    FROM pg_catalog.pg_prepared_xacts p
                    WHERE p.database OPERATOR(pg_catalog.=) pg_catalog.current_database()
                      AND wal2queue.full_xid(p.transaction, reference)
                          OPERATOR(pg_catalog.<=) wal2queue.full_xid(raw, reference);
                exact := false;
            END IF;
        WHEN SQLSTATE 'W2QRB' OR serialization_failure THEN
            RETURN;     -- not held, or the caller's probe gives the verdict
    END;
    IF gids IS NOT NULL THEN
        RAISE EXCEPTION 'wal2queue.send: key % of wal2queue.message_key is locked by the prepared transaction %', kid, gids
            USING ERRCODE = 'lock_not_available',
                  DETAIL = CASE WHEN exact THEN '' ELSE 'The lock was not granted within 1 s; its holder is a subtransaction of a prepared transaction (of one of these, which began before it) or of a session that did not end its transaction. ' END
                           OPERATOR(pg_catalog.||) 'A prepared transaction holds the key''s row until COMMIT PREPARED or ROLLBACK PREPARED, across restarts; send() does not wait for it.',
                  HINT = pg_catalog.format('Finish it (COMMIT PREPARED %s or ROLLBACK PREPARED %s, as the transaction manager decides), then retry.', gids, gids);
    END IF;
END
$$;

REVOKE EXECUTE ON FUNCTION wal2queue.send_key_probe(bigint, xid, xid8) FROM PUBLIC;

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
    kraw xid; krevoked boolean; kbusy boolean;
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
    -- the key and whether its xmax may matter, judged in the snapshot that
    -- read it: in READ COMMITTED a later statement's snapshot could see the
    -- revocation committed and take the xmax for the past
    SELECT k.id, k.ipad, k.opad, k.xmax,
           k.xmax::text OPERATOR(pg_catalog.<>) '0' AND wal2queue.send_key_busy(k.xmax, xid::text::xid8)
        INTO kid, ipad, opad, kraw, kbusy
        FROM (SELECT m.id, m.ipad, m.opad, m.xmax FROM wal2queue.message_key m
              WHERE NOT m.revoked ORDER BY m.id DESC LIMIT 1) k;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'wal2queue.send: the table wal2queue.message_key holds no key that is not revoked'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Add one: SELECT wal2queue.rotate_message_key();';
    END IF;
    /*
     * A revocation this statement's snapshot does not see: a REPEATABLE READ
     * snapshot older than it still shows the key's row as it was (its xmax
     * the revoking transaction), and in any isolation level a revocation may
     * be running.  The bridge drops a message signed with a revoked key, so
     * only an xmax that may matter asks the row itself (send_key_busy(): an
     * updater, or a transaction that may still update, not visible in the
     * snapshot, a subtransaction's included, test/t/540; a lock-only xmax
     * of others refuses nothing).  A prepared transaction holding the row
     * is not waited for: send_key_probe() raises an error naming it
     * (test/t/542).  Asking is a
     * FOR SHARE in a subtransaction that is then rolled back: it waits for a
     * running revocation and gets the server's verdict (a serialization
     * failure under REPEATABLE READ for an UPDATE committed after the
     * snapshot, the newest version under READ COMMITTED), and leaves no
     * lock that the next send()s would wait for or make MultiXacts with
     * (test/t/530).  REPEATABLE READ and SERIALIZABLE refuse a revoked key
     * (test/t/472, 517); READ COMMITTED takes a new snapshot and signs with
     * the newest key not revoked (test/t/531), never failing for a
     * rotation.  A revocation that starts after this test and commits
     * before this transaction is docs/managed.md's "signed before the
     * revocation": its message is dropped by the bridge.
     */
    IF kbusy THEN
        PERFORM wal2queue.send_key_probe(kid, kraw, xid::text::xid8);
        BEGIN
            SELECT m.revoked INTO krevoked FROM wal2queue.message_key m
                WHERE m.id OPERATOR(pg_catalog.=) kid FOR SHARE;
            RAISE SQLSTATE 'W2QRB';
        EXCEPTION
            WHEN serialization_failure THEN krevoked := true;
            WHEN SQLSTATE 'W2QRB' THEN NULL;
        END;
        IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.=) 'read committed' THEN
            SELECT m.id, m.ipad, m.opad INTO kid, ipad, opad
                FROM wal2queue.message_key m
                WHERE NOT m.revoked ORDER BY m.id DESC LIMIT 1;
        ELSIF krevoked THEN
            RAISE EXCEPTION 'wal2queue.send: key % of wal2queue.message_key was revoked or changed after this transaction''s snapshot', kid
                USING ERRCODE = 'serialization_failure',
                      HINT = 'Retry the transaction.';
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
