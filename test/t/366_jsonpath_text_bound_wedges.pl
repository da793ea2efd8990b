# Fixed: a jsonpath value wedged the slot: its text is over 1GB while it is
# stored in 28kB (200kB raw).  textbound.c bounded a varlena type it did not
# know by "eight times its stored size plus 64", and jsonpath prints each
# numeric literal of a few stored bytes in full (1e131071 is 131072 digits).
# The bound of a $[1e131071, ...] of 8200 subscripts was 1.6MB, under the
# job's room, so job.c column_text() called jsonpath_out: "Cannot enlarge
# string buffer" at every attempt, every wal2queue slot of the database
# stalled.  Now textbound.c bound_varlena() bounds jsonpath, and every type
# of an extension, at SMALL_EXPANSION (36865) bytes a stored byte, what a
# value of numerics can print at most: the value is converted only when
# that bound fits (up to 256MB), else the row is a claim check made from
# the bound (with no lower bound: docs/extension.md, "what the rule cannot
# see").  The same for a jsonpath inside an array (measure_element() bounds
# a large element by its type).
# Checked: both forms decode past the row and deliver the next job; the
# row and the array's row are claim checks, a short jsonpath a whole job; a
# value of an extension's type (hstore) likewise: 20kB stored is a claim
# check (its bound, 36865 bytes a byte, passes 256MB), 500 bytes a job.
# W2Q_ATTACK_CONTROL=1 uses short numbers: the same outcome (the bound of
# 200kB of jsonpath passes 256MB whatever it holds), and no error before
# the fix either.
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
	CREATE TABLE arrs (id int PRIMARY KEY, p jsonpath[]);
	CREATE EXTENSION hstore;
	CREATE TABLE hs (id int PRIMARY KEY, h hstore);
	CREATE TABLE jobs (id int PRIMARY KEY, note text);
	SELECT 'x' FROM pg_create_logical_replication_slot('w', 'wal2queue');
	INSERT INTO paths SELECT 1, ('\$[' || string_agg('$num', ',') || ']')::jsonpath
	  FROM generate_series(1, 8200);
	INSERT INTO arrs SELECT 1, ARRAY[p, p] FROM paths;
	INSERT INTO paths VALUES (2, '\$[1, 2]');
	INSERT INTO hs SELECT i, hstore('k', repeat('v', n))
	  FROM (VALUES (1, 20000), (2, 500)) v(i, n);
	INSERT INTO jobs VALUES (1, 'the next job');
});
diag('stored size of the jsonpath: ' . $node->safe_psql('postgres',
	'SELECT pg_column_size(p) FROM paths'));
my ($rc, $out, $err) = $node->psql('postgres', q~
	SELECT count(*) FILTER (WHERE data LIKE '%the next job%')
	  FROM pg_logical_slot_peek_changes('w', NULL, NULL, 'format', 'json')~);
is($err, '', 'the JSON form decodes past the row (no error)');
is($out, '1', 'the JSON form delivers the next job');
$out = $node->safe_psql('postgres', q~
	SELECT string_agg(data::json->'row'->>'table', ',' ORDER BY data)
	  FROM pg_logical_slot_peek_changes('w', NULL, NULL, 'format', 'json')
	 WHERE data::json->>'table' = 'wal2queue.claim_check'~);
is($out, 'public.arrs,public.hs,public.paths',
	'the jsonpath, the array of jsonpaths and the large hstore are claim checks');
$out = $node->safe_psql('postgres', q~
	SELECT string_agg(data::json->'row'->>'p', ',')
	  FROM pg_logical_slot_peek_changes('w', NULL, NULL, 'format', 'json')
	 WHERE data::json->>'table' = 'public.paths'~);
is($out, '$[1,2]', 'a short jsonpath is a whole job');
$out = $node->safe_psql('postgres', q~
	SELECT string_agg(length(data::json->'row'->>'h')::text, ',')
	  FROM pg_logical_slot_peek_changes('w', NULL, NULL, 'format', 'json')
	 WHERE data::json->>'table' = 'public.hs'~);
is($out, '507', 'a short hstore is a whole job');
($rc, $out, $err) = $node->psql('postgres', q~
	SELECT count(*) FILTER (WHERE position('the next job'::bytea IN data) > 0)
	  FROM pg_logical_slot_peek_binary_changes('w', NULL, NULL, 'format', 'binary')~);
is($err, '', 'the binary form decodes past the row (no error)');
is($out, '1', 'the binary form delivers the next job');
$node->stop;
done_testing();
