-- wal2queue.create_job_table() and the creating half of maintain_partitions().
CREATE EXTENSION wal2queue;
CREATE SCHEMA ext_job;

-- a plain job table: returns the table, the conventional columns, PK (id)
SELECT wal2queue.create_job_table('ext_job.jobs');
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid) AS "default"
  FROM pg_attribute a LEFT JOIN pg_attrdef d ON (d.adrelid, d.adnum) = (a.attrelid, a.attnum)
 WHERE a.attrelid = 'ext_job.jobs'::regclass AND a.attnum > 0
 ORDER BY a.attnum;
SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
 WHERE conrelid = 'ext_job.jobs'::regclass ORDER BY conname;
INSERT INTO ext_job.jobs (queue, payload) VALUES ('emails', '{"to": "a@b.c"}')
RETURNING id, queue, payload, created_at = now() AS created_now;
INSERT INTO ext_job.jobs (queue, payload, created_at) VALUES (NULL, '{}', '2000-01-01 00:00:00+00');

-- names are SQL identifiers: quoted ones keep case and special characters;
-- an unqualified name goes to the current schema
CREATE SCHEMA "Ext Job";
SELECT wal2queue.create_job_table('"Ext Job"."Job Queue"');
SELECT wal2queue.create_job_table('ext_job."Mixed-Case"');
SET search_path = ext_job;
SELECT wal2queue.create_job_table('Unqualified');
RESET search_path;
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname IN ('ext_job', 'Ext Job') AND c.relkind = 'r' ORDER BY 1, 2;

-- bad names
SELECT wal2queue.create_job_table(NULL);
SELECT wal2queue.create_job_table('ext_job.jobs', NULL);
SELECT wal2queue.create_job_table('');
SELECT wal2queue.create_job_table('a.b.c');
SELECT wal2queue.create_job_table('two words');
SELECT wal2queue.create_job_table('ext_job.x; DROP TABLE ext_job.jobs');
SELECT wal2queue.create_job_table('ext_job.jobs');
SELECT wal2queue.create_job_table('no_such_schema.jobs');

-- partitioned by day (UTC): PK (id, created_at), today and 3 more days
SELECT wal2queue.create_job_table('ext_job.pjobs', partitioned => true);
SELECT pg_get_partkeydef('ext_job.pjobs'::regclass);
SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
 WHERE conrelid = 'ext_job.pjobs'::regclass ORDER BY conname;
-- partitions relative to today, each named <table>_pYYYYMMDD after its day
CREATE FUNCTION ext_job_days(t regclass) RETURNS TABLE (day_offset interval, length interval, named_after_day boolean)
LANGUAGE sql AS $$
  SELECT p.lower_bound - date_trunc('day', now(), 'UTC'),
         p.upper_bound - p.lower_bound,
         p.partition::text LIKE '%\_p' || to_char(p.lower_bound AT TIME ZONE 'UTC', 'YYYYMMDD')
    FROM wal2queue.partitions(t) p ORDER BY p.lower_bound
$$;
SELECT * FROM ext_job_days('ext_job.pjobs');
INSERT INTO ext_job.pjobs (queue, payload) VALUES ('emails', '"routed"')
RETURNING id, tableoid = (SELECT partition FROM wal2queue.partitions('ext_job.pjobs') LIMIT 1) AS in_todays_partition;
INSERT INTO ext_job.pjobs (queue, payload, created_at) VALUES ('emails', '{}', '2000-01-01 00:00:00+00');

-- maintain_partitions creates what is missing and is idempotent; a DEFAULT
-- partition and partitions with other bounds are left alone
SELECT * FROM wal2queue.maintain_partitions('ext_job.pjobs');
SELECT action, regexp_replace(partition_name, '\d{8}$', 'YYYYMMDD')
  FROM wal2queue.maintain_partitions('ext_job.pjobs', days_ahead => 5);
CREATE TABLE ext_job.pjobs_default PARTITION OF ext_job.pjobs DEFAULT;
CREATE TABLE ext_job.pjobs_week PARTITION OF ext_job.pjobs
  FOR VALUES FROM (date_trunc('day', now(), 'UTC') + interval '6 days')
               TO (date_trunc('day', now(), 'UTC') + interval '13 days');
SELECT action, regexp_replace(partition_name, '\d{8}$', 'YYYYMMDD')
  FROM wal2queue.maintain_partitions('ext_job.pjobs', days_ahead => 14);
SELECT * FROM ext_job_days('ext_job.pjobs');

-- a long name is cut to leave room for the day suffix (63-byte identifiers)
SELECT length(wal2queue.create_job_table('ext_job.' || repeat('j', 63), true)::text);
SELECT max(octet_length(p.partition::text)) AS longest, count(*)
  FROM wal2queue.partitions(('ext_job.' || repeat('j', 63))::regclass) p;

-- maintain_partitions: bad arguments
SELECT * FROM wal2queue.maintain_partitions(NULL);
SELECT * FROM wal2queue.maintain_partitions('ext_job.jobs');
SELECT * FROM wal2queue.maintain_partitions('ext_job.pjobs', -1);
SELECT * FROM wal2queue.maintain_partitions('ext_job.pjobs', 3, NULL);
SELECT * FROM wal2queue.maintain_partitions('ext_job.pjobs', 3, -1);
CREATE TABLE ext_job.other (id int, at timestamptz) PARTITION BY RANGE (at);
SELECT * FROM wal2queue.maintain_partitions('ext_job.other');

-- create_partitions: bad arguments name the argument
SELECT * FROM wal2queue.create_partitions('ext_job.pjobs', NULL);
SELECT * FROM wal2queue.create_partitions('ext_job.pjobs', -1);
SELECT * FROM wal2queue.create_partitions(NULL, 1);

-- the bounds do not depend on the session's DateStyle and TimeZone (with
-- DateStyle=Postgres a bound in Asia/Kolkata would be written "... IST",
-- which reads back as Israel time)
SET DateStyle = Postgres;
SET TimeZone = 'Asia/Kolkata';
SELECT wal2queue.create_job_table('ext_job.kjobs', true);
SELECT count(*) AS partitions,
       bool_and(lower_bound = date_trunc('day', lower_bound, 'UTC')) AS utc_midnights,
       bool_and(upper_bound - lower_bound = interval '1 day') AS one_day_each,
       min(lower_bound) = date_trunc('day', now(), 'UTC') AS from_today,
       max(upper_bound) = date_trunc('day', now(), 'UTC') + interval '4 days' AS to_day_4
  FROM wal2queue.partitions('ext_job.kjobs');
SELECT action, regexp_replace(partition_name, '\d{8}$', 'YYYYMMDD')
  FROM wal2queue.maintain_partitions('ext_job.kjobs', days_ahead => 4);
SELECT bool_and(upper_bound - lower_bound = interval '1 day') AS one_day_each,
       max(upper_bound) = date_trunc('day', now(), 'UTC') + interval '5 days' AS to_day_5
  FROM wal2queue.partitions('ext_job.kjobs');
INSERT INTO ext_job.kjobs (queue, payload) VALUES ('q', '{}')
RETURNING tableoid::regclass::text = 'ext_job.kjobs_p' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD') AS in_todays_partition;
RESET DateStyle;
RESET TimeZone;

DROP FUNCTION ext_job_days(regclass);
SET client_min_messages = warning;
DROP SCHEMA ext_job, "Ext Job" CASCADE;
RESET client_min_messages;
DROP EXTENSION wal2queue;
DROP SCHEMA wal2queue;
