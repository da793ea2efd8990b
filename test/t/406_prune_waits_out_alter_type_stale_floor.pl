# What: prune() in READ COMMITTED computes the leaf's guard floor
# (leaf_floor()) in one statement and deletes in a later one
# (delete_delivered()).  An ALTER TYPE ... RENAME VALUE that is open while
# prune() starts holds the SHARE lock lock_shape_changed() takes on the job
# table: prune() reads the old guard state (the ALTER is uncommitted),
# keeps the old floor, then its DELETE waits for that lock; when the ALTER
# commits, the DELETE runs with the OLD floor but builds the rows' text
# with the NEW labels (the syscache, refreshed when the lock is granted).
# The claim-checked row of 180 long labels, now 180 'a's, is below
# claim_check_floor() and above the stale floor: deleted before its worker
# read it.  This is the suspected window of the review brief, reproduced
# deterministically: the SHARE lock meant to make INSERTs wait out the
# change makes prune() wait INTO it.
# Why: sql/src/30_prune.sql prune(): "floor := ... wal2queue.leaf_floor(
# leaf, h.reference, 'wal2queue.prune')" then "deleted :=
# wal2queue.delete_delivered(...)", separate snapshots; nothing takes the
# job table's lock before the floor is computed (a ROW EXCLUSIVE or SHARE
# UPDATE EXCLUSIVE lock first would make prune() wait before it reads the
# guard), nor re-checks guard_floor() after the DELETE's lock is granted.
# Expected: the claim-checked row is kept (prune() locks each leaf before
# it computes its floor, or re-reads the floor in the DELETE's snapshot).
# W2Q_ATTACK_CONTROL=1 commits the ALTER before prune() starts: kept.
# Fixed: prune() takes each leaf's ROW EXCLUSIVE lock (the DELETE's) before
# it reads the leaf's floor, so it waits for the ALTER before, not after.
# Severity: high (an undelivered job, the only copy of a claim check,
# deleted without force; needs an enum rename, or another recorded shape
# change, racing a prune() from cron: no special isolation level).
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('prune_race_enum');
my $r = start_redis();
my $long = 'l' x 63;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION wal2queue;
	CREATE TYPE lbl AS ENUM ('$long', 'short');
	CREATE TABLE public.jobs (id bigserial PRIMARY KEY, queue text NOT NULL, tags lbl[]);
	SELECT wal2queue.append_only('public.jobs');
});
my $b = start_bridge($node, $r, '--slot', 'jobs', '--create-slot', '--tables', 'public.jobs',
	'--route-column', 'queue', '--max-job-bytes', '8kB', '--status-interval', '1');
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT count(*) FROM wal2queue.slots WHERE slot_name = 'jobs'") eq '1' }, 30),
	'the bridge registered its slot') or diag(bridge_log($b));
$node->safe_psql('postgres', qq{
	INSERT INTO jobs (queue, tags) VALUES ('enum', array_fill('$long'::lbl, ARRAY[180]));
	INSERT INTO jobs (queue) VALUES ('small');
});
ok(wait_until(sub { redis($r, 'XLEN', 'enum') eq '1' && redis($r, 'XLEN', 'small') eq '1' }, 30),
	'both delivered') or diag(bridge_log($b));
is(stream_entries($r, 'enum')->[0][1]{wal2queue_claim_check}, 't',
	'the enum row is a claim check: its content is only in the table');
prune_until_gone($node, "queue = 'small'");
is($node->safe_psql('postgres', "SELECT count(*) FROM jobs WHERE queue = 'small'"), '0',
	'the small row is pruned: the horizon is past both rows');
is($node->safe_psql('postgres', "SELECT count(*) FROM jobs WHERE queue = 'enum'"), '1',
	'the claim check is kept while its label is long');

# session Y: the rename, open
my ($yin, $yout, $yerr) = ('', '', '');
my $y = IPC::Run::start([ 'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') ],
	'<', \$yin, '>', \$yout, '2>', \$yerr);
$yin .= "BEGIN;\nALTER TYPE lbl RENAME VALUE '$long' TO 'a';\nSELECT 'altered';\n";
$y->pump until $yout =~ /altered/ || $yerr =~ /ERROR/;
is($yerr, '', 'the rename ran');
if ($ENV{W2Q_ATTACK_CONTROL})
{
	$yin .= "COMMIT;\nSELECT 'committed';\n";
	$y->pump until $yout =~ /committed/;
}
diag('locks of the rename: ' . $node->safe_psql('postgres', q{
	SELECT string_agg(mode, ',') FROM pg_locks WHERE relation = 'public.jobs'::regclass}));

# session P: prune() from cron
my ($pout, $perr) = ('', '');
my $p = IPC::Run::start([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres'),
	'-c', "SELECT wal2queue.prune('public.jobs')" ], '>', \$pout, '2>', \$perr);
unless ($ENV{W2Q_ATTACK_CONTROL})
{
	ok(wait_until(sub { $node->safe_psql('postgres', q{
		SELECT count(*) FROM pg_stat_activity
		 WHERE wait_event_type = 'Lock' AND query LIKE '%wal2queue.prune%'}) eq '1' }, 30),
		'prune() waits for the rename\'s lock');
	$yin .= "COMMIT;\nSELECT 'committed';\n";
	$y->pump until $yout =~ /committed/;
}
$p->finish;
diag("prune() returned '$pout' $perr");
is($node->safe_psql('postgres', "SELECT count(*) FROM jobs WHERE queue = 'enum'"), '1',
	'the claim-checked row is still there for its worker');
$yin .= "\\q\n";
$y->finish;
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
