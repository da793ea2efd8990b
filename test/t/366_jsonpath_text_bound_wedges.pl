# Fixed: a jsonpath value wedged the slot: its text is over 1GB while it is
# stored in 28kB (200kB raw).  textbound.c bounded a varlena type it did not
# know by "eight times its stored size plus 64", and jsonpath prints each
# numeric literal of a few stored bytes in full (1e131071 is 131072 digits).
# The bound of a $[1e131071, ...] of 8200 subscripts was 1.6MB, under the
# job's room, so job.c column_text() called jsonpath_out: "Cannot enlarge
# string buffer" at every attempt, every wal2queue slot of the database
# stalled.  Now textbound.c bound_varlena() bounds jsonpath, and every type
# of an extension, at SMALL_EXPANSION (36865) bytes a stored byte, what a
# value of numerics can print at most: the value is converted as before
# while that bound is at most 256MB; above it (and for large values nested
# in containers whose text is not proven long) job.c guarded_output()
# converts it in a subtransaction, and only a failure for a size limit
# (over 1GB: far over max-job-bytes / 16, so prune keeps the row) is
# rolled back and makes the row a claim check; any other error is raised.
# Checked: both forms decode past the row and deliver the next job; the
# jsonpath and an array of two of it are claim checks; a short jsonpath,
# an hstore of 20kB (bound 737MB: converted under the guard) and one of
# 500 bytes are whole jobs; the same through a walsender (pg_recvlogical),
# which then decodes the next transaction too.  W2Q_ATTACK_CONTROL=1 uses short numbers: the
# jsonpaths are converted under the guard and are whole jobs.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
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
peek_finds_next_job($node, 'json');
my $out = $node->safe_psql('postgres', q~
	SELECT string_agg(data::json->'row'->>'table', ',' ORDER BY data)
	  FROM pg_logical_slot_peek_changes('w', NULL, NULL, 'format', 'json')
	 WHERE data::json->>'table' = 'wal2queue.claim_check'~);
is($out, $ENV{W2Q_ATTACK_CONTROL} ? '' : 'public.arrs,public.paths',
	'the jsonpath and the array of jsonpaths are claim checks');
$out = $node->safe_psql('postgres', q~
	SELECT string_agg(left(data::json->'row'->>'p', 6), ',' ORDER BY data::json->>'key')
	  FROM pg_logical_slot_peek_changes('w', NULL, NULL, 'format', 'json')
	 WHERE data::json->>'table' = 'public.paths'~);
is($out, $ENV{W2Q_ATTACK_CONTROL} ? '$[1,1,,$[1,2]' : '$[1,2]', 'a short jsonpath is a whole job');
$out = $node->safe_psql('postgres', q~
	SELECT string_agg(length(data::json->'row'->>'h')::text, ',' ORDER BY data::json->>'key')
	  FROM pg_logical_slot_peek_changes('w', NULL, NULL, 'format', 'json')
	 WHERE data::json->>'table' = 'public.hs'~);
is($out, '20007,507', 'an hstore of 20kB (converted under the guard) and a short one are jobs');
peek_finds_next_job($node, 'binary');

# a walsender: the subtransaction rolled back inside its decoding, then on
$node->safe_psql('postgres', q{INSERT INTO jobs VALUES (2, 'one more')});
my $end = $node->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
$node->safe_psql('postgres', q{INSERT INTO jobs VALUES (3, 'past the end')});
my $file = $node->basedir . '/w.json';
my ($rout, $rerr) = ('', '');
my $ran = IPC::Run::run(
	[ 'pg_recvlogical', '-d', $node->connstr('postgres'), '--slot', 'w', '--start',
	  '--endpos', $end, '--no-loop', '-f', $file, '-o', 'format=json' ],
	'>', \$rout, '2>', \$rerr, IPC::Run::timeout(300));
ok($ran, 'a walsender decodes past the rows') or diag($rerr);
my $text = -e $file ? slurp_file($file) : '';
my $cc = () = $text =~ /"table":"wal2queue.claim_check"/g;
is($cc, $ENV{W2Q_ATTACK_CONTROL} ? 0 : 2, 'the walsender makes the two claim checks');
like($text, qr/the next job.*one more/s, 'and delivers the jobs after them');
$node->stop;
done_testing();
