-- Every type family, typed as the JSON contract says; dropped and generated columns.
SET extra_float_digits = 0;
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE TYPE mood AS ENUM ('ok', 'meh');
CREATE TABLE public.typed (
  id int PRIMARY KEY,
  i2 int2, i4 int4, i8 int8, f4 float4, f8 float8, num numeric, dom posint,
  b bool, j json, jb jsonb,
  t text, vc varchar(10), ch char(3), by bytea, arr int[], tarr text[],
  ts timestamp, tstz timestamptz, d date, iv interval, u uuid, m mood, inet inet,
  gone int,
  twice int GENERATED ALWAYS AS (i4 * 2) STORED
);
ALTER TABLE typed DROP COLUMN gone;
SELECT 'init' FROM pg_create_logical_replication_slot('types', 'wal2queue');
INSERT INTO typed (id, i2, i4, i8, f4, f8, num, dom, b, j, jb, t, vc, ch, by, arr, tarr,
                   ts, tstz, d, iv, u, m, inet)
VALUES (1, -2, 4, 9223372036854775807, 1.5, -2.25e-10, 123456789.000000001, 7, true,
        '{"a": [1, 2], "b": null}', '{"z": 1, "a": "x"}',
        E'quote " backslash \\ newline \n tab \t é', 'vc', 'ab', '\xdeadbeef', '{1,2,3}',
        '{"a b",NULL}', '2024-01-02 03:04:05.678', '2024-01-02 03:04:05+00', '2024-02-29',
        '1 day 2 hours', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'meh', '10.0.0.1/8');
INSERT INTO typed (id, f4, f8, num, b) VALUES (2, 'NaN', 'Infinity', 'NaN', false);
INSERT INTO typed (id, f8, num) VALUES (3, '-Infinity', '-Infinity');
INSERT INTO typed (id) VALUES (4);
SELECT * FROM w2q_json('types');

-- the output is valid JSON whose values round-trip
INSERT INTO typed (id, i8, num, jb, t) VALUES (5, -1, 0.1, '[1, {"x": true}]', 'ünïcødé');
SELECT d->'row'->'i8' AS i8, d->'row'->'num' AS num, d->'row'->'jb' AS jb, d->'row'->>'t' AS t,
       json_typeof(d->'row'->'b') AS null_is, json_typeof(d->'row'->'i8') AS i8_is
FROM (SELECT data::json AS d FROM pg_logical_slot_get_changes('types', NULL, NULL, 'format', 'json')) s;

-- a table whose names need quoting, in a schema whose name needs quoting
CREATE SCHEMA "Odd Schema";
CREATE TABLE "Odd Schema"."Job ""Table""" ("Key Col" text PRIMARY KEY, "select" int);
INSERT INTO "Odd Schema"."Job ""Table""" VALUES ('k"1', 1);
SELECT * FROM w2q_json('types', 'tables', 'Odd Schema.*');

SELECT pg_drop_replication_slot('types');
DROP TABLE typed, "Odd Schema"."Job ""Table""";
DROP SCHEMA "Odd Schema";
DROP DOMAIN posint;
DROP TYPE mood;
