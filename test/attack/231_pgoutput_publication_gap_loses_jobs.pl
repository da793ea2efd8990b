# ATTACK (fails on main): with --plugin=pgoutput "the publication decides
# what the server sends"; the bridge checks at start that it publishes every
# table --tables selects (bridge/publication.c publication_prepare), and
# never again.  While it streams, a gap between --tables and the publication
# loses jobs silently, and the slot is confirmed past them:
#  1. --tables public.job_* (a pattern, as documented) and a new job table
#     public.job_b created while streaming: the publication (FOR TABLE,
#     resolved once by --create-slot) does not publish it, so its INSERTs
#     never arrive; the plugin mode would deliver them;
#  2. ALTER PUBLICATION ... DROP TABLE public.job_a, an INSERT, then ADD
#     TABLE again (an operator re-shaping the publication): the INSERT in
#     between is never delivered, and after ADD the bridge sees nothing wrong
#     even at its next start;
#  3. ALTER PUBLICATION ... SET (publish_via_partition_root = false) and back
#     with a partitioned job table (public.job_p, whose partition job_p_x
#     --tables does not select): the row inserted meanwhile arrives as
#     public.job_p_x, which the bridge drops (the plugin reports the root).
# Expected: every committed job arrives, or the bridge stops without
# confirming past the first job it cannot see (e.g. re-check the
# publication against --tables as of each confirmed position, or refuse a
# pattern --tables that a FOR TABLE publication cannot follow).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('pgogap', no_allow_list => 1);
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE ROLE bridge LOGIN REPLICATION;
	GRANT CREATE ON DATABASE postgres TO bridge;
	GRANT CREATE ON SCHEMA public TO bridge;
	SET ROLE bridge;
	CREATE TABLE job_a (id int PRIMARY KEY, v text);
	CREATE TABLE job_p (id int, r text, PRIMARY KEY (id, r)) PARTITION BY LIST (r);
	CREATE TABLE part_x PARTITION OF job_p FOR VALUES IN ('x');
});
my @args = ('-d', $node->connstr('postgres') . ' user=bridge', '--plugin', 'pgoutput',
	'--publication', 'w2q', '--slot', 'pgo', '--tables', 'public.job_*',
	'--status-interval', '1');
my $b = start_bridge($node, $r, @args, '--create-slot');
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "pgo"/ }), 'streaming') or diag(bridge_log($b));

# 1. a new table that --tables selects
$node->safe_psql('postgres', q{
	SET ROLE bridge;
	CREATE TABLE job_b (id int PRIMARY KEY, v text);
	INSERT INTO job_b VALUES (1, 'new table');
	INSERT INTO job_a VALUES (1, 'a1');
});
my $end1 = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
# 2. the table leaves the publication for a moment
$node->safe_psql('postgres', q{
	SET ROLE bridge;
	ALTER PUBLICATION w2q DROP TABLE job_a;
	INSERT INTO job_a VALUES (2, 'while unpublished');
	ALTER PUBLICATION w2q ADD TABLE job_a;
	INSERT INTO job_a VALUES (3, 'a3');
});
my $end = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
# 3. the publication stops publishing via the root for a moment
$node->safe_psql('postgres', q{
	SET ROLE bridge;
	INSERT INTO job_p VALUES (1, 'x');
	ALTER PUBLICATION w2q SET (publish_via_partition_root = false);
	INSERT INTO job_p VALUES (2, 'x');
	ALTER PUBLICATION w2q SET (publish_via_partition_root = true);
	INSERT INTO job_p VALUES (3, 'x');
});
my $end3 = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(wait_until(sub { redis($r, 'XLEN', 'public.job_p') eq '2' }), 'jobs 1 and 3 of job_p arrive');
ok(wait_until(sub { redis($r, 'XLEN', 'public.job_a') eq '2' }), 'jobs 1 and 3 of job_a arrive');
sleep 3;
my $nb = redis($r, 'XLEN', 'public.job_b');
my $ids = join(',', map { $_->[1]{id} } @{ stream_entries($r, 'public.job_a') });
my $c = slot_confirmed($node, 'pgo');
my ($past1, $past2, $past3) = split /\|/, $node->safe_psql('postgres',
	"SELECT '$c'::pg_lsn >= '$end1', '$c'::pg_lsn >= '$end', '$c'::pg_lsn >= '$end3'");
my $pids = join(',', map { $_->[1]{id} } @{ stream_entries($r, 'public.job_p') });
note("job_b entries: $nb; job_a ids: $ids; slot confirmed at $c");
ok($nb eq '1' || $past1 ne 't',
	'a new table --tables selects: its INSERT is a job, or the slot is not confirmed past it')
  or diag("job_b: $nb entries, slot confirmed at $c, past it: $past1");
ok($ids eq '1,2,3' || $past2 ne 't',
	'the INSERT made while the table was out of the publication is a job, or the slot is not confirmed past it')
  or diag("job_a ids: $ids, slot confirmed at $c, past it: $past2");
ok($pids eq '1,2,3' || $past3 ne 't',
	'the row inserted while the publication did not publish via the root is a job of public.job_p, or the slot is not confirmed past it')
  or diag("job_p ids: $pids, slot confirmed at $c, past it: $past3");
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
