-- Jobs carry text as UTF-8 (plugin/utf8.c): in a LATIN1 database values,
-- keys, targets, table and column names are converted in the binary form
-- (and in the JSON form a walsender streams); the JSON form read through
-- the SQL functions is text, so it stays in the database encoding.
CREATE DATABASE w2q_latin1 TEMPLATE template0 ENCODING 'LATIN1' LOCALE 'C';
CREATE DATABASE w2q_win1252 TEMPLATE template0 ENCODING 'WIN1252' LOCALE 'C';
\c w2q_latin1
REVOKE EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text),
                           pg_logical_emit_message(boolean, text, bytea) FROM PUBLIC;
-- 'café' is 63 61 66 e9 in LATIN1, 63 61 66 c3 a9 in UTF-8; table "tâche",
-- column "clé"
DO $$ BEGIN
  EXECUTE format('CREATE TABLE public.%I (id int PRIMARY KEY, %I text)',
                 convert_from('\x74e2636865', 'LATIN1'), convert_from('\x636ce9', 'LATIN1'));
END $$;
SELECT 'init' FROM pg_create_logical_replication_slot('enc', 'wal2queue');
DO $$ BEGIN
  EXECUTE format('INSERT INTO public.%I VALUES (1, %L)',
                 convert_from('\x74e2636865', 'LATIN1'), convert_from('\x636166e9', 'LATIN1'));
END $$;
SELECT 'emitted' FROM pg_logical_emit_message(true,
  'wal2queue:' || convert_from('\x74e9', 'LATIN1') || '#' || convert_from('\x6be9', 'LATIN1'),
  convert_from('\x636166e9', 'LATIN1'));
-- binary form: the value, the table and column names, the message's target
-- and key in UTF-8; the message payload is bytes, as they are
SELECT position('\x636166c3a9'::bytea in d) > 0 AS value_utf8,
       position('\x74c3a2636865'::bytea in d) > 0 AS table_utf8,
       position('\x636cc3a9'::bytea in d) > 0 AS column_utf8,
       position('\x74c3a9'::bytea in d) > 0 AS target_utf8,
       position('\x6bc3a9'::bytea in d) > 0 AS key_utf8,
       position('\x636166e9'::bytea in d) > 0 AS payload_as_is
FROM (SELECT string_agg(data, ''::bytea) AS d
      FROM pg_logical_slot_peek_binary_changes('enc', NULL, NULL)) b;
-- JSON form through the SQL functions: text in the database encoding
SELECT position('\x636166e9'::bytea in convert_to(string_agg(data, ''), 'LATIN1')) > 0 AS json_in_database_encoding,
       count(*) AS jobs
FROM pg_logical_slot_get_changes('enc', NULL, NULL, 'format', 'json');
SELECT pg_drop_replication_slot('enc');
-- WIN1252 stores 0x81, which has no UTF-8 equivalent: U+FFFD, never an ERROR
\c w2q_win1252
CREATE TABLE public.jobs (id int PRIMARY KEY, v text);
SELECT 'init' FROM pg_create_logical_replication_slot('enc', 'wal2queue');
INSERT INTO jobs VALUES (1, convert_from('\x6181e9', 'WIN1252'));
SELECT position('\x61efbfbdc3a9'::bytea in string_agg(data, ''::bytea)) > 0 AS replaced
FROM pg_logical_slot_get_binary_changes('enc', NULL, NULL);
SELECT pg_drop_replication_slot('enc');
\c contrib_regression
DROP DATABASE w2q_latin1;
DROP DATABASE w2q_win1252;
