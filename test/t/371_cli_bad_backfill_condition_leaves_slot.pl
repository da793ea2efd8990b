# Found by attack review 11 (fixed): a --backfill condition that is not
# valid SQL (or names a column the table lacks) created and registered the
# slot, then exited 1 and left the slot.  The bridge took the condition as
# text and first ran it in the backfill's page query, after
# CREATE_REPLICATION_SLOT and register_slot(): the slot then held WAL, and as
# a registered slot no bridge attested it held back prune() of every job
# table of the database until someone ran the bridge again or dropped it.
# Fixed: before anything is created (bridge/backfill_check.c, called from
# main.c), each selected table is read with "SELECT 1 FROM t LIMIT 0" and
# then with "... WHERE true AND (<condition>) LIMIT 0", as the pages will be,
# on a normal read-only connection: a condition the server refuses is exit 2
# naming --backfill, the table and the server's error; a table the bridge
# cannot read is exit 1 naming it; no slot is created.  (With pgoutput: the
# publication's tables, or while it does not exist the ones --tables
# selects.)  And an error only
# the rows raise (a division by zero) stops the first backfill after the
# slot was created: the run now drops what it created (the sink's state back
# to the marker, the slot, its registration), as the other start failures
# do, so the corrected command line starts afresh.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('cli_bad_backfill');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	SELECT wal2queue.create_job_table('public.jobs');
	INSERT INTO jobs (queue, payload) VALUES ('q', '{}');
	CREATE ROLE bf_reader LOGIN REPLICATION;
	GRANT USAGE ON SCHEMA wal2queue TO bf_reader;
});
my @base = ('--sink', "redis://127.0.0.1:$r->{port}", '--slot', 'bf', '--create-slot',
	'--tables', 'public.jobs');
my $nslots = sub { $node->safe_psql('postgres', 'SELECT count(*) FROM pg_replication_slots') };
my $nreg = sub { $node->safe_psql('postgres', 'SELECT count(*) FROM wal2queue.slots') };

for my $cond ('id >', 'no_such_column = 1', q{id > 'x'})
{
	my ($code, $out) = run_bridge('-d', $node->connstr('postgres'), @base, '--backfill', $cond);
	is($code, 2, "--backfill '$cond': exit 2 (usage)") or diag($out);
	like($out, qr/invalid --backfill condition "\Q$cond\E" for table public\.jobs: \S/,
		"--backfill '$cond': the condition, the table and the server's error are named");
	unlike($out, qr/created replication slot/, "--backfill '$cond': nothing was created");
	is($nslots->(), '0', "--backfill '$cond': no slot was created");
	is($nreg->(), '0', "--backfill '$cond': nor registered");
}

# pgoutput, whose publication --create-slot would create: the tables --tables
# selects are checked
{
	my ($code, $out) = run_bridge('-d', $node->connstr('postgres'), @base, '--plugin', 'pgoutput',
		'--publication', 'bfpub', '--backfill', 'no_such_column = 1');
	is($code, 2, 'pgoutput, publication not yet created: exit 2') or diag($out);
	like($out, qr/invalid --backfill condition "no_such_column = 1" for table public\.jobs: /,
		'pgoutput: the table and the error are named');
	is($nslots->(), '0', 'pgoutput: no slot was created');
	is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_publication'), '0',
		'pgoutput: nor the publication');
}

# a table the bridge's role cannot read: exit 1 naming it, nothing created
my ($code, $out) = run_bridge('-d', $node->connstr('postgres') . ' user=bf_reader', @base,
	'--backfill');
is($code, 1, 'a table the role cannot read: exit 1') or diag($out);
like($out, qr/could not read table public\.jobs for the backfill: permission denied/,
	'the table and the error are named');
is($nslots->(), '0', 'no slot was created for the role that cannot read');

# an error only the rows raise: found at the first page, after the slot was
# created; the run drops what it created
($code, $out) = run_bridge('-d', $node->connstr('postgres'), @base, '--backfill', 'id / (id - id) = 1');
is($code, 1, 'a condition that fails on a row: exit 1') or diag($out);
like($out, qr/division by zero/, 'the error is said');
like($out, qr/dropped replication slot "bf" again: this run created it and its backfill stopped before it delivered a row/,
	'the bridge says it dropped the slot it created');
is($nslots->(), '0', 'no slot is left behind');
is($nreg->(), '0', 'nor a registry row');

# the corrected command line starts afresh: backfills the row and streams
my $b = start_bridge($node, $r, '--slot', 'bf', '--create-slot', '--tables', 'public.jobs',
	'--backfill', 'id > 0', '--status-interval', '1');
ok(wait_until(sub { (redis($r, 'XLEN', 'public.jobs') // 0) == 1 }, 30),
	'the corrected bridge backfills the row') or diag(bridge_log($b));
$node->safe_psql('postgres', q{INSERT INTO jobs (queue, payload) VALUES ('q', '{}')});
ok(wait_until(sub { (redis($r, 'XLEN', 'public.jobs') // 0) == 2 }, 30),
	'and streams') or diag(bridge_log($b));
is($nreg->(), '1', 'its slot is registered');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
