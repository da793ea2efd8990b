-- A cross-partition UPDATE is a DELETE and an INSERT in WAL: the moved row
-- is not a new job (the DELETE's record says it is half of a move).
CREATE TABLE public.mjobs (id int, state text, note text, PRIMARY KEY (id, state)) PARTITION BY LIST (state);
CREATE TABLE public.mjobs_new PARTITION OF mjobs FOR VALUES IN ('new');
CREATE TABLE public.mjobs_done PARTITION OF mjobs FOR VALUES IN ('done');
CREATE TABLE public.other (id int PRIMARY KEY);
SELECT 'init' FROM pg_create_logical_replication_slot('moves', 'wal2queue');
INSERT INTO mjobs VALUES (1, 'new', 'a'), (2, 'new', 'b');
-- a move: no job
UPDATE mjobs SET state = 'done' WHERE id = 1;
-- two moves in one statement, between two new jobs
BEGIN;
INSERT INTO mjobs VALUES (3, 'new', 'c');
UPDATE mjobs SET state = 'done' WHERE id IN (2, 3);
INSERT INTO mjobs VALUES (4, 'new', 'd');
COMMIT;
-- a DELETE then an INSERT of the same row into another partition is a new job
BEGIN;
DELETE FROM mjobs WHERE id = 1;
INSERT INTO mjobs VALUES (1, 'new', 'again');
COMMIT;
-- a move then an INSERT into another table: that row is a job
BEGIN;
UPDATE mjobs SET state = 'new' WHERE id = 2;
INSERT INTO other VALUES (5);
INSERT INTO mjobs VALUES (6, 'done', 'e');
COMMIT;
-- an UPDATE within one partition is no job either
UPDATE mjobs SET note = 'x' WHERE id = 4;
SELECT * FROM w2q_json('moves');
-- The INSERT after a move's DELETE is the moved row only when proven: the
-- next change of the same (sub)transaction, with the same identity outside
-- the partition key.  A trigger on the destination that discards the moved
-- row: the next INSERT is a genuine job (id 8).
CREATE FUNCTION mjobs_discard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN IF NEW.note = 'discard' THEN RETURN NULL; END IF; RETURN NEW; END $$;
CREATE TRIGGER discard BEFORE INSERT ON mjobs_done FOR EACH ROW EXECUTE FUNCTION mjobs_discard();
INSERT INTO mjobs VALUES (7, 'new', 'discard');
BEGIN;
UPDATE mjobs SET state = 'done' WHERE id = 7;
INSERT INTO mjobs VALUES (8, 'new', 'genuine');
COMMIT;
-- the moved row discarded, then an INSERT with its identity: in a savepoint
-- (another subtransaction), or after another change (an UPDATE of another
-- table, a message), it is a genuine job (11, 12, 13 'new' and 'done')
INSERT INTO mjobs VALUES (11, 'new', 'discard'), (12, 'new', 'discard'), (13, 'new', 'discard');
BEGIN;
UPDATE mjobs SET state = 'done' WHERE id = 11;
SAVEPOINT s;
INSERT INTO mjobs VALUES (11, 'done', 'after savepoint');
RELEASE SAVEPOINT s;
UPDATE mjobs SET state = 'done' WHERE id = 12;
UPDATE other SET id = 5 WHERE id = 5;
INSERT INTO mjobs VALUES (12, 'done', 'after update');
UPDATE mjobs SET state = 'done' WHERE id = 13;
SELECT 'sent' FROM pg_logical_emit_message(true, 'wal2queue:q', 'm');
INSERT INTO mjobs VALUES (13, 'done', 'after message');
COMMIT;
-- a trigger that enqueues a job before the moved row: that job, and the moved
-- row too (a duplicate: it is not the next change after the DELETE)
CREATE FUNCTION mjobs_fanout() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN IF NEW.note = 'fanout' THEN INSERT INTO mjobs VALUES (NEW.id + 100, 'new', 'follow-up'); END IF;
RETURN NEW; END $$;
CREATE TRIGGER fanout BEFORE INSERT ON mjobs_done FOR EACH ROW EXECUTE FUNCTION mjobs_fanout();
INSERT INTO mjobs VALUES (9, 'new', 'fanout');
UPDATE mjobs SET state = 'done' WHERE id = 9;
-- a move that changes the key too cannot be proven: delivered (a duplicate);
-- an INSERT that then reuses the old key is a job
BEGIN;
UPDATE mjobs SET state = 'done', id = 10 WHERE id = 8;
INSERT INTO mjobs VALUES (8, 'done', 'old key again');
COMMIT;
-- a table without replica identity: a moved row is delivered (a duplicate)
CREATE TABLE public.njobs (id int, state text) PARTITION BY LIST (state);
CREATE TABLE public.njobs_new PARTITION OF njobs FOR VALUES IN ('new');
CREATE TABLE public.njobs_done PARTITION OF njobs FOR VALUES IN ('done');
INSERT INTO njobs VALUES (1, 'new');
UPDATE njobs SET state = 'done';
-- sub-partitions: a move between leaves of one sub-partitioned table, whose
-- key column (kind) is not the root's partition key, is recognised
CREATE TABLE public.sjobs (id int, state text, kind int, PRIMARY KEY (id, state, kind)) PARTITION BY LIST (state);
CREATE TABLE public.sjobs_new PARTITION OF sjobs FOR VALUES IN ('new') PARTITION BY LIST (kind);
CREATE TABLE public.sjobs_new1 PARTITION OF sjobs_new FOR VALUES IN (1);
CREATE TABLE public.sjobs_new2 PARTITION OF sjobs_new FOR VALUES IN (2);
INSERT INTO sjobs VALUES (1, 'new', 1);
UPDATE sjobs SET kind = 2;
-- (the message is no job: messages 'false')
SELECT * FROM w2q_json('moves', 'messages', 'false');
-- a change of a table the slot does not select ends a pending DELETE too
INSERT INTO mjobs VALUES (14, 'new', 'discard');
BEGIN;
UPDATE mjobs SET state = 'done' WHERE id = 14;
INSERT INTO other VALUES (14);
INSERT INTO mjobs VALUES (14, 'done', 'after other table');
COMMIT;
SELECT * FROM w2q_json('moves', 'tables', 'public.mjobs');
-- a transaction decoded from disk (larger than logical_decoding_work_mem):
-- the move in its middle is still recognised, no job
SET logical_decoding_work_mem = '64kB';
BEGIN;
INSERT INTO other SELECT g FROM generate_series(1000, 1999) g;
UPDATE mjobs SET state = 'new' WHERE id = 14;
INSERT INTO other SELECT g FROM generate_series(2000, 2999) g;
COMMIT;
SELECT * FROM w2q_json('moves', 'tables', 'public.mjobs');
SELECT pg_stat_force_next_flush();
SELECT spill_txns > 0 AS spilled FROM pg_stat_replication_slots WHERE slot_name = 'moves';
RESET logical_decoding_work_mem;
-- a moved row with an out-of-line (TOASTed) value: the TOAST table's changes
-- between the DELETE and the INSERT are not changes the plugin is shown
ALTER TABLE mjobs ALTER COLUMN note SET STORAGE EXTERNAL;
INSERT INTO mjobs VALUES (15, 'new', repeat('t', 10000));
SELECT pg_column_size(note) = 10000 AS out_of_line FROM mjobs WHERE id = 15;
UPDATE mjobs SET state = 'done' WHERE id = 15;
SELECT data::json->'row'->>'id' AS id, length(data::json->'row'->>'note') AS note
  FROM pg_logical_slot_get_changes('moves', NULL, NULL, 'format', 'json', 'tables', 'public.mjobs');
SELECT pg_drop_replication_slot('moves');
DROP TABLE mjobs, njobs, sjobs, other;
DROP FUNCTION mjobs_discard(), mjobs_fanout();
