# Fixed: a regprocedure[] wedged the slot.  textbound.c bound_fixed() gave a
# fixed-length type it did not list "64 bytes plus four per stored byte": 80
# for the 4-byte reg* types, but regprocedure prints the function's
# qualified name AND its argument types, each qualified and quoted: a
# function of 100 arguments of a type whose schema and name need quoting
# prints 19266 bytes from 4 stored bytes.  An array of 56000 of them was
# bound at 9MB, under the job's room, so job.c column_text() called
# array_out, whose text passes 1GB: "Cannot enlarge string buffer" at every
# attempt.  What fixed it: the fix of 345 (textbound.c measure_element())
# converts each element of a fixed-length type alone and measures its text
# (a regprocedure's is at most 26259 bytes), so the array's bound is its
# real text, over the room: the row is a claim check, proven long.  The
# estimate is gone too: bound_fixed() now gives each reg* type the longest
# text it can print (names of up to 63 bytes quoted, regprocedure with 100
# argument types, regoperator with two; aclitem two role names), and a
# fixed-length type of an extension as a numeric could print per byte.
# Checked: both forms decode past the row and deliver the next job, the row
# is a claim check.  W2Q_ATTACK_CONTROL=1: a function without arguments
# (the array then prints a few MB: a whole job).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('regproc_wedge');
# the control: the same array of a function without arguments
my $nargs = $ENV{W2Q_ATTACK_CONTROL} ? 0 : 100;
$node->safe_psql('postgres', qq{
	CREATE SCHEMA "Q""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""";
	DO \$\$
	DECLARE s text := (SELECT nspname FROM pg_namespace WHERE nspname LIKE 'Q%');
	        t text := 'T' || repeat('"', 62);
	BEGIN
	  EXECUTE format('CREATE DOMAIN %I.%I AS int', s, t);
	  EXECUTE format('CREATE FUNCTION %I.f(%s) RETURNS int LANGUAGE sql AS ''SELECT 1''', s,
	                 (SELECT coalesce(string_agg(format('%I.%I', s, t), ','), '')
	                    FROM generate_series(1, $nargs)));
	END \$\$;
	CREATE TABLE procs (id int PRIMARY KEY, f regprocedure[]);
	CREATE TABLE jobs (id int PRIMARY KEY, note text);
	SELECT 'x' FROM pg_create_logical_replication_slot('w', 'wal2queue');
	INSERT INTO procs SELECT 1, array_fill(p.oid::regprocedure, ARRAY[56000])
	  FROM pg_proc p WHERE p.proname = 'f' AND p.pronamespace::regnamespace::text LIKE '"Q%';
	INSERT INTO jobs VALUES (1, 'the next job');
});
diag('text of one element: ' . $node->safe_psql('postgres',
	'SELECT length(f[1]::text) FROM procs') . ' bytes');
peek_finds_next_job($node, 'json');
my $out = $node->safe_psql('postgres', q~
	SELECT count(*) FROM pg_logical_slot_peek_changes('w', NULL, NULL, 'format', 'json')
	 WHERE data::json->>'table' = 'wal2queue.claim_check'
	   AND data::json->'row'->>'table' = 'public.procs'~);
is($out, $ENV{W2Q_ATTACK_CONTROL} ? '0' : '1', 'the array of regprocedures is a claim check');
peek_finds_next_job($node, 'binary');
$node->stop;
done_testing();
