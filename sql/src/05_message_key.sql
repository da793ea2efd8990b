-- sql/src/05_message_key.sql -- the key that signs send()'s messages
-- (part of the wal2queue extension script: see 00_install.sql)

/*
 * wal2queue.message_key -- one row: a per-database secret key, created at
 * install, with which send() signs each message it emits (10_send.sql,
 * plugin/FORMAT.md "Signed messages").  A bridge streaming from pgoutput
 * reads the key and makes a job of a signed message whose signature
 * verifies even while PUBLIC may execute pg_logical_emit_message() (on a
 * managed server, where no one may revoke that): a role that cannot read
 * the key cannot sign (docs/managed.md, "Who may send jobs by message").
 *
 * Readable only by its owner, the installing role (send() runs as that
 * role), and by whom that role grants SELECT: the bridge's role
 *     GRANT SELECT ON wal2queue.message_key TO wal2queue_bridge;
 * key: 48 bytes from three gen_random_uuid() (pg_strong_random; 366 random
 * bits; no pgcrypto needed).  ipad, opad: the key zero-padded to SHA-256's
 * 64-byte block and XORed with 0x36 and 0x5c (RFC 2104), kept so that
 * send() computes HMAC-SHA256 with two sha256() calls and nothing else.
 */
CREATE TABLE wal2queue.message_key (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    key bytea NOT NULL CHECK (pg_catalog.length(key) BETWEEN 32 AND 64),
    ipad bytea NOT NULL CHECK (pg_catalog.length(ipad) = 64),
    opad bytea NOT NULL CHECK (pg_catalog.length(opad) = 64)
);

COMMENT ON TABLE wal2queue.message_key IS
'the secret key that signs send()''s messages; readable by the bridge''s role only (GRANT SELECT)';

REVOKE ALL ON wal2queue.message_key FROM PUBLIC;

DO $$
DECLARE
    k bytea := pg_catalog.decode(pg_catalog.replace(pg_catalog.concat(
                   pg_catalog.gen_random_uuid(), pg_catalog.gen_random_uuid(),
                   pg_catalog.gen_random_uuid()), '-', ''), 'hex');
    k0 bytea := k OPERATOR(pg_catalog.||) pg_catalog.decode(pg_catalog.repeat('00', 64 - pg_catalog.length(k)), 'hex');
    ipad bytea := k0;
    opad bytea := k0;
BEGIN
    FOR i IN 0..63 LOOP
        ipad := pg_catalog.set_byte(ipad, i, pg_catalog.get_byte(k0, i) # 54);
        opad := pg_catalog.set_byte(opad, i, pg_catalog.get_byte(k0, i) # 92);
    END LOOP;
    INSERT INTO wal2queue.message_key (key, ipad, opad) VALUES (k, ipad, opad);
END
$$;
