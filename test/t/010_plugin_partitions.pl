# The plugin survives partitions being attached and detached under a
# decoding slot, including a DETACH PARTITION CONCURRENTLY cancelled half
# way, which leaves the partition "detach pending" (pg_inherits.inhdetachpending):
# decoding an INSERT into it crashed the server (signal 11) before.
# A detach-pending partition is reported as its own table, as it will be
# once the detach is finalized (FORMAT.md, "Partitions").
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use W2QTest;

# W2Q_TEST_CONF: extra settings, e.g. dynamic_library_path to test a build
# before installing it
my $node = new_node('partitions', conf => $ENV{W2Q_TEST_CONF} // '');
$node->safe_psql('postgres', q{
	CREATE TABLE root (id int, part int, note text, PRIMARY KEY (id, part)) PARTITION BY LIST (part);
	CREATE TABLE p1 PARTITION OF root FOR VALUES IN (1);
	CREATE TABLE root2 (id int, part int, note text, PRIMARY KEY (id, part)) PARTITION BY LIST (part);
	CREATE TABLE p2 PARTITION OF root2 FOR VALUES IN (2);
	CREATE TABLE p3 PARTITION OF root FOR VALUES IN (3) PARTITION BY RANGE (id);
	CREATE TABLE p3a PARTITION OF p3 FOR VALUES FROM (0) TO (1000);
	CREATE TABLE p4 (id int, part int, note text, PRIMARY KEY (id, part));
	SELECT 'init' FROM pg_create_logical_replication_slot('calls', 'wal2queue');
	SELECT 'init' FROM pg_create_logical_replication_slot('live', 'wal2queue');
});

# a walsender that keeps its caches across every change below
my $out = $node->basedir . '/live.json';
my $recv = IPC::Run::start(
	[ 'pg_recvlogical', '-d', $node->connstr('postgres'), '--slot', 'live',
	  '--start', '-o', 'format=json', '-f', $out, '-F', '1', '-s', '1' ],
	'>', \my $rout, '2>', \my $rerr);

# leave p (a partition of r) detach pending: an older transaction holds
# a lock on r, so the second half of DETACH CONCURRENTLY times out (a
# partitioned table has at most one pending detach)
sub detach_cancelled
{
	my ($r, $p) = @_;
	my $old = $node->background_psql('postgres');
	$old->query_safe("BEGIN; SELECT count(*) FROM $r;");
	my ($ret, $stdout, $stderr) = $node->psql('postgres',
		"SET statement_timeout = '1s'; ALTER TABLE $r DETACH PARTITION $p CONCURRENTLY");
	like($stderr, qr/canceling statement due to statement timeout/, "DETACH $p CONCURRENTLY cancelled");
	$old->query_safe('COMMIT');
	$old->quit;
	is($node->safe_psql('postgres',
		"SELECT inhdetachpending FROM pg_inherits WHERE inhrelid = '$p'::regclass"), 't',
		"$p is detach pending");
}

$node->safe_psql('postgres', "INSERT INTO root VALUES (1, 1, 'before'), (3, 3, 'before')");
$node->safe_psql('postgres', "INSERT INTO root2 VALUES (2, 2, 'before')");
detach_cancelled('root2', 'p2');
detach_cancelled('root', 'p3');
$node->safe_psql('postgres', "INSERT INTO p2 VALUES (4, 2, 'pending')");
$node->safe_psql('postgres', "INSERT INTO p3a VALUES (5, 3, 'pending below')");

my $calls = $node->safe_psql('postgres',
	q{SELECT string_agg(data, E'\n') FROM pg_logical_slot_peek_changes('calls', NULL, NULL, 'format', 'json')});
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server survived decoding the detach-pending partition');

sub summary
{
	my ($lines) = @_;
	return join "\n", map {
		my $j = decode_json($_);
		"$j->{table} $j->{row}{id} $j->{row}{note}"
	} grep { /\S/ } split /\n/, $lines;
}

is(summary($calls), join("\n",
	'public.root 1 before', 'public.root 3 before', 'public.root2 2 before',
	'public.p2 4 pending', 'public.p3 5 pending below'),
	'a detach-pending partition is its own table; its partitions are reported under it');
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM pg_logical_slot_peek_changes('calls', NULL, NULL, 'format', 'json', 'tables', 'public.root*')}),
	'3', 'the root no longer selects rows of a detach-pending partition');

# finalize, re-attach, plain and concurrent detach, a cross-partition
# UPDATE (no job: the walsender reads the DELETE's WAL record back), all
# under the live slot
$node->safe_psql('postgres', q{
	ALTER TABLE root2 DETACH PARTITION p2 FINALIZE;
	INSERT INTO p2 VALUES (6, 2, 'finalized');
	ALTER TABLE root DETACH PARTITION p3 FINALIZE;
	INSERT INTO p3a VALUES (7, 3, 'finalized below');
	ALTER TABLE root ATTACH PARTITION p4 FOR VALUES IN (4);
	INSERT INTO root VALUES (8, 4, 'attached');
	ALTER TABLE root ATTACH PARTITION p2 FOR VALUES IN (2);
	INSERT INTO p2 VALUES (9, 2, 'attached again');
	UPDATE root SET part = 2 WHERE id = 1;	-- a move from p1 to p2: no job
	ALTER TABLE root DETACH PARTITION p4;
	INSERT INTO p4 VALUES (10, 4, 'detached');
});
$node->safe_psql('postgres', 'ALTER TABLE root DETACH PARTITION p2 CONCURRENTLY');
$node->safe_psql('postgres', "INSERT INTO p2 VALUES (11, 2, 'detached concurrently')");

my $want = join("\n",
	'public.root 1 before', 'public.root 3 before', 'public.root2 2 before',
	'public.p2 4 pending', 'public.p3 5 pending below',
	'public.p2 6 finalized', 'public.p3 7 finalized below',
	'public.root 8 attached', 'public.root 9 attached again',
	'public.p4 10 detached', 'public.p2 11 detached concurrently');
$calls = $node->safe_psql('postgres',
	q{SELECT string_agg(data, E'\n') FROM pg_logical_slot_get_changes('calls', NULL, NULL, 'format', 'json')});
is(summary($calls), $want, 'decoded in one call: every row under the table it belonged to');
ok(wait_until(sub { -f $out && (() = slurp_file($out) =~ /\n/g) >= 11 }, 60),
	'the live slot streamed every row');
is(summary(slurp_file($out)), $want, 'the same through one long-running walsender');
$recv->signal('INT');
$recv->finish;
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server is still up');
$node->stop;
done_testing();
