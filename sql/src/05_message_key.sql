-- sql/src/05_message_key.sql -- the keys that sign send()'s messages
-- (part of the wal2queue extension script: see 00_install.sql)

/*
 * wal2queue.message_key -- one row per key: per-database secret keys, the
 * first created at install, with which send() signs each message it emits
 * (10_send.sql, plugin/FORMAT.md "Signed messages").  A bridge streaming
 * from pgoutput reads the keys and makes a job of a signed message whose
 * signature verifies even while PUBLIC may execute
 * pg_logical_emit_message() (on a managed server, where no one may revoke
 * that): a role that cannot read a key cannot sign (docs/managed.md, "Who
 * may send jobs by message").
 *
 * A signed message names its key by id; send() signs with the newest key
 * that is not revoked.  Rows are never deleted and a key never changes (a
 * trigger refuses DELETE, TRUNCATE and an UPDATE of anything but revoked),
 * so a message signed with any key stays verifiable while it waits in the
 * WAL (test/t/452), and a bridge that finds no row for a message's id, in
 * a snapshot that sees the message's transaction, knows it is no message of
 * send().  wal2queue.rotate_message_key() adds a key;
 * wal2queue.revoke_message_key(id) marks a leaked one: undelivered messages
 * signed with it are then no jobs (they could be forgeries).
 *
 * Readable only by its owner, the installing role (send() runs as that
 * role), and by whom that role grants SELECT: the bridge's role
 *     GRANT SELECT ON wal2queue.message_key TO wal2queue_bridge;
 * key: 48 bytes from three gen_random_uuid() (pg_strong_random; 366 random
 * bits; no pgcrypto needed).  ipad, opad: derived by the trigger from the
 * key (zero-padded to SHA-256's 64-byte block and XORed with 0x36 and 0x5c,
 * RFC 2104), never supplied, so that send() computes HMAC-SHA256 with two
 * sha256() calls and the pads cannot disagree with the key (test/t/453).
 */
CREATE TABLE wal2queue.message_key (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key bytea NOT NULL CHECK (pg_catalog.length(key) BETWEEN 32 AND 64),
    ipad bytea NOT NULL CHECK (pg_catalog.length(ipad) = 64),
    opad bytea NOT NULL CHECK (pg_catalog.length(opad) = 64),
    created timestamptz NOT NULL DEFAULT pg_catalog.now(),
    revoked boolean NOT NULL DEFAULT false
);

COMMENT ON TABLE wal2queue.message_key IS
'the secret keys that sign send()''s messages (never deleted; revoke with wal2queue.revoke_message_key()); readable by the bridge''s role only (GRANT SELECT)';

REVOKE ALL ON wal2queue.message_key FROM PUBLIC;

/*
 * Default privileges of the installing role (ALTER DEFAULT PRIVILEGES ...
 * GRANT SELECT ON TABLES TO reporting, a common read-only setup) granted
 * the new table to others: whoever reads a key can sign jobs.  Revoke every
 * privilege from every grantee but the owner, right after creating it; the
 * bridge's GRANT SELECT comes afterwards (test/t/477).
 */
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT DISTINCT a.grantee FROM pg_catalog.pg_class c,
                 pg_catalog.aclexplode(c.relacl) a
             WHERE c.oid OPERATOR(pg_catalog.=) 'wal2queue.message_key'::pg_catalog.regclass
               AND a.grantee OPERATOR(pg_catalog.<>) c.relowner LOOP
        IF r.grantee OPERATOR(pg_catalog.=) 0 THEN
            REVOKE ALL ON wal2queue.message_key FROM PUBLIC CASCADE;
        ELSE
            EXECUTE pg_catalog.format('REVOKE ALL ON wal2queue.message_key FROM %s CASCADE',
                                      r.grantee::pg_catalog.regrole::pg_catalog.text);  -- quoted as needed
        END IF;
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
               WHERE c.oid OPERATOR(pg_catalog.=) 'wal2queue.message_key'::pg_catalog.regclass
                 AND a.grantee OPERATOR(pg_catalog.<>) c.relowner) THEN
        RAISE EXCEPTION 'wal2queue.message_key: could not revoke the privileges default privileges granted on it'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Install as the role whose ALTER DEFAULT PRIVILEGES granted them.';
    END IF;
END
$$;

-- the pads of a new key; no change but revoking; no DELETE, no TRUNCATE
CREATE FUNCTION wal2queue.message_key_guard()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k0 bytea;
BEGIN
    IF TG_OP = 'DELETE' OR TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION 'wal2queue.message_key: a key is never deleted'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Messages signed with it may still wait in the WAL; the bridge verifies them with it.',
                  HINT = 'Revoke a leaked key with wal2queue.revoke_message_key(id); add one with wal2queue.rotate_message_key().';
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF NEW.id IS DISTINCT FROM OLD.id OR NEW.key IS DISTINCT FROM OLD.key
           OR NEW.ipad IS DISTINCT FROM OLD.ipad OR NEW.opad IS DISTINCT FROM OLD.opad
           OR NEW.created IS DISTINCT FROM OLD.created OR (OLD.revoked AND NOT NEW.revoked) THEN
            RAISE EXCEPTION 'wal2queue.message_key: a key never changes, and a revoked key stays revoked'
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = pg_catalog.format('Key %s was to be changed.', OLD.id),
                      HINT = 'Add a key with wal2queue.rotate_message_key(); revoke one with wal2queue.revoke_message_key(id).';
        END IF;
        RETURN NEW;
    END IF;
    k0 := NEW.key OPERATOR(pg_catalog.||)
        pg_catalog.decode(pg_catalog.repeat('00', 64 - pg_catalog.length(NEW.key)), 'hex');
    NEW.ipad := k0;
    NEW.opad := k0;
    FOR i IN 0..63 LOOP
        NEW.ipad := pg_catalog.set_byte(NEW.ipad, i, pg_catalog.get_byte(k0, i) # 54);
        NEW.opad := pg_catalog.set_byte(NEW.opad, i, pg_catalog.get_byte(k0, i) # 92);
    END LOOP;
    RETURN NEW;
END
$$;

CREATE TRIGGER message_key_guard BEFORE INSERT OR UPDATE OR DELETE ON wal2queue.message_key
    FOR EACH ROW EXECUTE FUNCTION wal2queue.message_key_guard();
CREATE TRIGGER message_key_no_truncate BEFORE TRUNCATE ON wal2queue.message_key
    FOR EACH STATEMENT EXECUTE FUNCTION wal2queue.message_key_guard();

/*
 * rotate_message_key() -- add a new random key; send() signs with it from
 * the commit on, and messages signed with the older keys stay verifiable.
 * Returns its id.  Executable by the owner only (and whom it grants).  It
 * takes revoke_message_key()'s table lock, so that two transactions that
 * each rotate and then revoke wait for each other instead of deadlocking.
 */
CREATE FUNCTION wal2queue.rotate_message_key()
RETURNS bigint
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    -- after the revocations and rotations running (revoke_message_key())
    LOCK TABLE wal2queue.message_key IN SHARE ROW EXCLUSIVE MODE;
    INSERT INTO wal2queue.message_key (key, ipad, opad)
    VALUES (pg_catalog.decode(pg_catalog.replace(pg_catalog.concat(
                pg_catalog.gen_random_uuid(), pg_catalog.gen_random_uuid(),
                pg_catalog.gen_random_uuid()), '-', ''), 'hex'),
            '', '')
    RETURNING id;
$$;

COMMENT ON FUNCTION wal2queue.rotate_message_key() IS
'add a new key for send()''s signatures (older keys stay verifiable); returns its id';

/*
 * revoke_message_key(id) -- mark a leaked key: send() no longer signs with
 * it, and a bridge makes no job of a message signed with it, not even one
 * written before (it could be a forgery).  Refused for the last key not
 * revoked (rotate first).
 *
 * Revocations run one at a time: the table is locked SHARE ROW EXCLUSIVE
 * first, which conflicts with itself and with ROW EXCLUSIVE (an UPDATE,
 * rotate_message_key()'s INSERT) but not with what send() takes (ACCESS
 * SHARE to read, ROW SHARE for its FOR SHARE) nor the bridge's SELECT; so
 * two revocations of the last two keys cannot both see the other key not
 * revoked (test/t/582), and a send() is never held by the lock, only by the
 * row it chose (send_key_wait()).  Under READ COMMITTED each statement
 * after the lock sees every revocation committed before it; under
 * REPEATABLE READ and SERIALIZABLE the transaction's snapshot may be older,
 * so the other keys not revoked in it are locked FOR SHARE: one revoked
 * since is a serialization failure.  The revoked key's row is locked FOR
 * UPDATE before it is updated: a send() that chose the key before that
 * signs before the revocation; one that finds it waits (send_key_wait()).
 */
CREATE FUNCTION wal2queue.revoke_message_key(key_id bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    LOCK TABLE wal2queue.message_key IN SHARE ROW EXCLUSIVE MODE;
    PERFORM 1 FROM wal2queue.message_key m WHERE m.id OPERATOR(pg_catalog.=) key_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'wal2queue.revoke_message_key: no key %', key_id
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.<>) 'read committed' THEN
        PERFORM 1 FROM wal2queue.message_key m
            WHERE NOT m.revoked AND m.id OPERATOR(pg_catalog.<>) key_id FOR SHARE;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM wal2queue.message_key m
                   WHERE NOT m.revoked AND m.id OPERATOR(pg_catalog.<>) key_id) THEN
        RAISE EXCEPTION 'wal2queue.revoke_message_key: key % is the last key not revoked', key_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Add a key first: SELECT wal2queue.rotate_message_key();';
    END IF;
    UPDATE wal2queue.message_key m SET revoked = true WHERE m.id OPERATOR(pg_catalog.=) key_id;
END
$$;

COMMENT ON FUNCTION wal2queue.revoke_message_key(bigint) IS
'revoke a leaked key of send()''s signatures: undelivered messages signed with it are no jobs';

REVOKE EXECUTE ON FUNCTION wal2queue.message_key_guard(), wal2queue.rotate_message_key(),
    wal2queue.revoke_message_key(bigint) FROM PUBLIC;

-- the first key
DO $$
BEGIN
    PERFORM wal2queue.rotate_message_key();
END
$$;
