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
SELECT pg_drop_replication_slot('moves');
DROP TABLE mjobs, other;
