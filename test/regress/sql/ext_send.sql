-- wal2queue.send(): jobs as transactional logical messages, no table.
CREATE EXTENSION wal2queue;
SELECT 'init' FROM pg_create_logical_replication_slot('regress_w2q_send', 'wal2queue');

-- consume the slot in the JSON form, commit LSN and xid masked
CREATE FUNCTION ext_send_jobs() RETURNS SETOF text LANGUAGE sql AS $$
  SELECT regexp_replace(data, '"lsn":"[0-9A-F]+/[0-9A-F]+","xid":[0-9]+', '"lsn":"L","xid":X')
    FROM pg_logical_slot_get_changes('regress_w2q_send', NULL, NULL, 'format', 'json')
$$;

-- text and jsonb payloads, with and without a key, in one transaction;
-- send() returns the LSN of the message record
BEGIN;
SELECT wal2queue.send('emails', 'hello') IS NOT NULL AS sent;
SELECT wal2queue.send('emails', 'hi "you"', 'user-42') IS NOT NULL AS sent;
SELECT wal2queue.send('billing', '{"amount": 12.50, "to": "a@b.c"}'::jsonb, 'inv#7:1') IS NOT NULL AS sent;
SELECT wal2queue.send(target => 'colons:are:fine', payload => 'x', key => '') IS NOT NULL AS sent;
COMMIT;
SELECT * FROM ext_send_jobs();

-- send() signs each message (FORMAT.md, "Signed messages"): the same job in
-- two transactions carries two MACs, each 64 lower-case hex digits, after
-- the id of the key (the first key's: 1)
SELECT 'init' FROM pg_create_logical_replication_slot('regress_w2q_sign', 'test_decoding');
SELECT wal2queue.send('emails', 'same', 'k') IS NOT NULL AS sent;
SELECT wal2queue.send('emails', 'same', 'k') IS NOT NULL AS sent;
SELECT count(DISTINCT m[2]) AS macs, bool_and(m[1] = '1') AS key_id, bool_and(m[3] = ':emails#k') AS prefix_after_mac
  FROM pg_logical_slot_get_changes('regress_w2q_sign', NULL, NULL) c,
       regexp_match(c.data, '^message: transactional: 1 prefix: wal2queue!([0-9]+)\.([0-9a-f]{64})(:[^,]*), sz: 4 content:same$') m;
SELECT pg_drop_replication_slot('regress_w2q_sign');
SELECT * FROM ext_send_jobs();

-- an untyped literal picks the text overload; jsonb is sent as its text form
SELECT wal2queue.send('a', '{"b" : 1}') IS NOT NULL AS sent;
SELECT wal2queue.send('a', '{"b" : 1}'::jsonb) IS NOT NULL AS sent;
SELECT * FROM ext_send_jobs();

-- a rolled-back send produces nothing, nor does a rolled-back subtransaction
BEGIN;
SELECT wal2queue.send('emails', 'rolled back') IS NOT NULL AS sent;
ROLLBACK;
BEGIN;
SELECT wal2queue.send('emails', 'kept') IS NOT NULL AS sent;
SAVEPOINT s;
SELECT wal2queue.send('emails', 'rolled back to savepoint') IS NOT NULL AS sent;
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT * FROM ext_send_jobs();

-- send() writes WAL only: the insert position moves past the message, and
-- the transaction inserts, updates and deletes no tuple anywhere
CREATE FUNCTION ext_send_tuples() RETURNS numeric LANGUAGE sql AS $$
  SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_xact_all_tables
$$;
BEGIN;
SELECT pg_current_wal_insert_lsn() AS lsn0, ext_send_tuples() AS tuples0 \gset
SELECT wal2queue.send('emails', 'wal only') >= :'lsn0'::pg_lsn AS lsn_moved;
SELECT wal2queue.send('emails', '{"wal": "only"}'::jsonb) >= :'lsn0'::pg_lsn AS lsn_moved;
SELECT pg_current_wal_insert_lsn() > :'lsn0'::pg_lsn AS wal_written,
       ext_send_tuples() - :tuples0 AS tuples_written;
COMMIT;
SELECT count(*) FROM ext_send_jobs();
DROP FUNCTION ext_send_tuples();

-- bad arguments
SELECT wal2queue.send(NULL, 'x');
SELECT wal2queue.send('', 'x');
SELECT wal2queue.send('a#b', 'x');
SELECT wal2queue.send('a', NULL);
SELECT wal2queue.send('a', NULL::jsonb, 'k');
-- a failed send leaves nothing behind
SELECT count(*) FROM ext_send_jobs();

-- the keys (05_message_key.sql): the pads are derived from the key, never
-- supplied (test/t/453); a key never changes and is never deleted (a
-- message signed with it may wait in the WAL: test/t/452); rotating adds
-- a key send() signs with from then on; revoking marks one, never the last
SELECT id, length(key) AS key_bytes, get_byte(ipad, 0) = get_byte(key, 0) # 54 AS ipad0,
       get_byte(opad, 47) = get_byte(key, 47) # 92 AS opad47, get_byte(ipad, 63) AS ipad63,
       get_byte(opad, 48) AS opad48, revoked
  FROM wal2queue.message_key;
INSERT INTO wal2queue.message_key (key, ipad, opad)
  VALUES (decode(repeat('11', 32), 'hex'), decode(repeat('00', 64), 'hex'), decode(repeat('00', 64), 'hex'));
SELECT id, get_byte(ipad, 0) AS ipad0, get_byte(opad, 0) AS opad0, get_byte(ipad, 40) AS ipad40,
       get_byte(opad, 63) AS opad63
  FROM wal2queue.message_key WHERE id = 2;
UPDATE wal2queue.message_key SET key = decode(repeat('22', 32), 'hex') WHERE id = 1;
UPDATE wal2queue.message_key SET ipad = decode(repeat('22', 64), 'hex') WHERE id = 1;
DELETE FROM wal2queue.message_key WHERE id = 2;
TRUNCATE wal2queue.message_key;
SELECT wal2queue.rotate_message_key() AS rotated;
SELECT 'init' FROM pg_create_logical_replication_slot('regress_w2q_keys', 'test_decoding');
SELECT wal2queue.send('emails', 'newest key') IS NOT NULL AS sent;
SELECT wal2queue.revoke_message_key(3);
SELECT wal2queue.send('emails', 'after revoking 3') IS NOT NULL AS sent;
SELECT wal2queue.revoke_message_key(2);
SELECT wal2queue.revoke_message_key(1);
SELECT wal2queue.revoke_message_key(42);
UPDATE wal2queue.message_key SET revoked = false WHERE id = 3;
SELECT substring(data from '^message: transactional: 1 prefix: wal2queue!([0-9]+)\.[0-9a-f]{64}:emails, sz: \d+ content:(.*)$') AS key_id,
       substring(data from 'content:(.*)$') AS content
  FROM pg_logical_slot_get_changes('regress_w2q_keys', NULL, NULL) WHERE data LIKE 'message:%';
SELECT pg_drop_replication_slot('regress_w2q_keys');
SELECT id, revoked FROM wal2queue.message_key ORDER BY id;
SELECT count(*) FROM ext_send_jobs();

-- volatility and security of the functions: SECURITY DEFINER only where
-- needed, and then with a fixed search_path or (send) none needed; who may
-- execute them
SELECT p.oid::regprocedure, p.provolatile, p.prosecdef, p.proconfig,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public
  FROM pg_proc p WHERE p.pronamespace = 'wal2queue'::regnamespace
 ORDER BY p.oid::regprocedure::text;

SELECT pg_drop_replication_slot('regress_w2q_send');
DROP FUNCTION ext_send_jobs();
DROP EXTENSION wal2queue;
DROP SCHEMA wal2queue;
