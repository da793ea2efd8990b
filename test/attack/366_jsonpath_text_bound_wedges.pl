# Attack review 11: a jsonpath value wedges the slot: its text is over 1GB
# while it is stored in 28kB (200kB raw).  textbound.c bound_datum() bounds a
# varlena it does not know by "eight times its stored size plus 64" (the
# default of the switch), and jsonpath is not one it knows: a jsonpath
# stores each numeric literal in a few bytes, and jsonpath_out prints it in
# full -- 1e131071 is 131072 digits, about 5400 times its stored size.  The
# bound of a $[1e131071, ...] of 8200 subscripts is 1.6MB, under the job's
# room, so job.c column_text() calls the output function, which fails with
# "out of memory: Cannot enlarge string buffer" at every attempt: the slot
# never gets past the row (the header of textbound.c: "A decoding walsender
# must never call an output function whose text could pass 1GB").  The same
# for a jsonpath inside an array or a composite (bound_element() uses the
# same bound).  Any role that may insert into a selected table with a
# jsonpath column (with the default tables option: any table) stalls every
# wal2queue slot of the database.
# Expected: the row is a claim check (or its job is made) in both forms and
# the next job is delivered: jsonpath bounded like jsonb (walked: each
# numeric as bound_numeric()), or any type the bound does not know counted
# as numerics could print (NUMERIC_TEXT_MAX a stored byte).
# Severity: critical (a walsender wedged for good by one INSERT; WAL piles up).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('jsonpath_wedge');
# the control: the same number of subscripts, each a short number
my $num = $ENV{W2Q_ATTACK_CONTROL} ? '1' : '1e131071';
$node->safe_psql('postgres', qq{
	CREATE TABLE paths (id int PRIMARY KEY, p jsonpath);
	CREATE TABLE jobs (id int PRIMARY KEY, note text);
	SELECT 'x' FROM pg_create_logical_replication_slot('w', 'wal2queue');
	INSERT INTO paths SELECT 1, ('\$[' || string_agg('$num', ',') || ']')::jsonpath
	  FROM generate_series(1, 8200);
	INSERT INTO jobs VALUES (1, 'the next job');
});
diag('stored size of the jsonpath: ' . $node->safe_psql('postgres',
	'SELECT pg_column_size(p) FROM paths'));
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
