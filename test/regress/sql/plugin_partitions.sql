-- Rows inserted into partitions are reported under the partitioned root,
-- with the root's column order even when a partition's differs.
CREATE TABLE public.pjobs (id int, day date, queue text, PRIMARY KEY (id, day)) PARTITION BY RANGE (day);
CREATE TABLE public.pjobs_1 PARTITION OF pjobs FOR VALUES FROM ('2024-01-01') TO ('2024-02-01');
-- a partition attached with another column order
CREATE TABLE public.pjobs_2 (queue text, id int, day date, PRIMARY KEY (id, day));
ALTER TABLE pjobs ATTACH PARTITION pjobs_2 FOR VALUES FROM ('2024-02-01') TO ('2024-03-01');
-- a sub-partitioned partition
CREATE TABLE public.pjobs_3 PARTITION OF pjobs FOR VALUES FROM ('2024-03-01') TO ('2024-04-01') PARTITION BY RANGE (id);
CREATE TABLE public.pjobs_3a PARTITION OF pjobs_3 FOR VALUES FROM (0) TO (100);
SELECT 'init' FROM pg_create_logical_replication_slot('parts', 'wal2queue');
INSERT INTO pjobs VALUES (1, '2024-01-05', 'a'), (2, '2024-02-05', 'b'), (3, '2024-03-05', 'a');
-- the tables option matches the root's name
SELECT * FROM w2q_json('parts', 'tables', 'public.pjobs', 'route-column', 'queue');
INSERT INTO pjobs_2 VALUES ('direct', 4, '2024-02-06');
SELECT * FROM w2q_json('parts', 'tables', 'public.pjobs_*');
INSERT INTO pjobs_2 VALUES ('direct', 5, '2024-02-07');
SELECT * FROM w2q_json('parts', 'tables', 'public.pjobs');
-- a schema change on the root is seen by later rows
ALTER TABLE pjobs ADD COLUMN extra text DEFAULT 'new';
INSERT INTO pjobs VALUES (6, '2024-02-08', 'c');
SELECT * FROM w2q_json('parts');
-- detaching and attaching a level in the middle of a tree: a row of the
-- leaf is reported under whatever is its topmost ancestor at that point
-- (decoded in one call, so the cache sees the invalidations in WAL order)
CREATE TABLE public.lv (id int PRIMARY KEY) PARTITION BY RANGE (id);
CREATE TABLE public.lv_a PARTITION OF lv FOR VALUES FROM (0) TO (100) PARTITION BY RANGE (id);
CREATE TABLE public.lv_b PARTITION OF lv_a FOR VALUES FROM (0) TO (50) PARTITION BY RANGE (id);
CREATE TABLE public.lv_c PARTITION OF lv_b FOR VALUES FROM (0) TO (10);
INSERT INTO lv_c VALUES (1);
ALTER TABLE lv_a DETACH PARTITION lv_b;
INSERT INTO lv_c VALUES (2);
ALTER TABLE lv_a ATTACH PARTITION lv_b FOR VALUES FROM (0) TO (50);
INSERT INTO lv_c VALUES (3);
ALTER TABLE lv_a DETACH PARTITION lv_b CONCURRENTLY;
INSERT INTO lv_c VALUES (4);
ALTER TABLE lv DETACH PARTITION lv_a;
ALTER TABLE lv_a ATTACH PARTITION lv_b FOR VALUES FROM (0) TO (50);
INSERT INTO lv_c VALUES (5);
SELECT * FROM w2q_json('parts', 'tables', 'public.lv*');
SELECT pg_drop_replication_slot('parts');
DROP TABLE pjobs, lv, lv_a, lv_b;
