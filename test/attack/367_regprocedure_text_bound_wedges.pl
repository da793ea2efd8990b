# Attack review 11: a regprocedure[] wedges the slot.  textbound.c
# bound_fixed() gives a fixed-length type it does not list "64 bytes plus
# four per stored byte": 80 for the 4-byte reg* types.  But regprocedure
# prints the function's qualified name AND its argument types, each
# qualified and quoted: a function of 100 arguments of a type whose schema
# and name need quoting prints 19266 bytes from 4 stored bytes.  An array of
# 56000 of them is bound at 56000 x (2 x 80 + 5) = 9MB, under the job's room,
# so job.c column_text() calls array_out, whose text passes 1GB: "out of
# memory: Cannot enlarge string buffer" at every attempt, the slot never
# gets past the row.  (regoperator likewise, with two argument types;
# regtype, regclass, regrole etc. print up to 2 x 128 + 1 bytes from 4.)
# Any role that can create a function and insert into a selected table with
# a reg* array column (with the default tables option: any table) stalls
# every wal2queue slot of the database.
# Expected: the row is a claim check (or its job is made) in both forms and
# the next job is delivered: the reg* types bounded by what they can print
# (regprocedure: names of up to 100 arguments), or converted element by
# element within the bound.
# Severity: high (a walsender wedged for good by one INSERT; needs a reg*
# array column).
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
my ($rc, $out, $err) = $node->psql('postgres', q~
	SELECT count(*) FILTER (WHERE data LIKE '%the next job%')
	  FROM pg_logical_slot_peek_changes('w', NULL, NULL, 'format', 'json')~);
is($err, '', 'the JSON form decodes past the row (no error)');
is($out, '1', 'the JSON form delivers the next job');
($rc, $out, $err) = $node->psql('postgres', q~
	SELECT count(*) FILTER (WHERE position('the next job'::bytea IN data) > 0)
	  FROM pg_logical_slot_peek_binary_changes('w', NULL, NULL, 'format', 'binary')~);
is($err, '', 'the binary form decodes past the row (no error)');
is($out, '1', 'the binary form delivers the next job');
$node->stop;
done_testing();
