# What: the backfill reads the job table with a plain SELECT as the
# bridge's role, so row-level security applies to it: on a table with
# FORCE ROW LEVEL SECURITY (or a bridge role that does not own the table
# and has no BYPASSRLS) a policy silently filters the backfill, which
# reports "done" with the rows it could see.  The stream, decoded from WAL,
# sees every row: only the pre-existing pending jobs are missing, with no
# error and no warning.
# Why: bridge/backfill_reader.c bf_open_reader() sets the pinned settings
# and opens the snapshot but never sets row_security = off (as pg_dump
# does, so that a policy that would filter rows raises "query would be
# affected by row-level security policy" instead of hiding them);
# backfill_check.c's LIMIT 0 probe does not notice either.
# Expected: every selected row backfilled, or a clear error naming the
# table and the policy (row_security = off in the reader and the check).
# Here: 10 rows, a policy that hides the 5 with status 'hidden' from every
# role but the superuser; the bridge runs as role bridge (LOGIN
# REPLICATION, owner of the table).
# W2Q_ATTACK_CONTROL=1 leaves FORCE ROW LEVEL SECURITY out (the owner is
# then exempt): 10 rows.
# With the extension installed the backfill then calls mark_backfilled():
# prune() (here a superuser's, which RLS does not filter) deletes the
# hidden rows as delivered: checked too.
# Severity: high (pending jobs never delivered, backfill recorded done,
# silently, then deleted by prune() without force; needs RLS forced on the
# job table or a non-owner bridge role).
# Fixed: the backfill's check and reader connections SET row_security =
# off (BF_NO_ROW_SECURITY): a policy that would hide rows is an error,
# found by the check before the slot is created, exit 1, naming the table
# and the fix (a role with BYPASSRLS, or the owner without FORCE ROW LEVEL
# SECURITY).  Checked now: that error and exit 1, and no slot left; then
# the bridge's role given BYPASSRLS backfills the 10 rows, and prune()
# deletes none that was not delivered.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfrls');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE ROLE bridge LOGIN REPLICATION;
	GRANT USAGE ON SCHEMA wal2queue TO bridge;
	CREATE TABLE jobs (id bigint PRIMARY KEY, status text NOT NULL);
	ALTER TABLE jobs OWNER TO bridge;
	ALTER TABLE jobs ENABLE ROW LEVEL SECURITY;
	CREATE POLICY visible ON jobs USING (status <> 'hidden');
});
$node->safe_psql('postgres', q{ALTER TABLE jobs FORCE ROW LEVEL SECURITY}) unless $ENV{W2Q_ATTACK_CONTROL};
# the guard first, the rows after it: prune() may delete them once delivered
$node->safe_psql('postgres', q{
	SELECT wal2queue.append_only('public.jobs');
	INSERT INTO jobs SELECT g, CASE WHEN g % 2 = 0 THEN 'hidden' ELSE 'pending' END
	  FROM generate_series(1, 10) g;
});
my $b = start_bridge($node, $r, '-d', $node->connstr('postgres') . ' user=bridge', '--slot', 'bf_rls',
	'--create-slot', '--tables', 'public.jobs', '--backfill', '--status-interval', '1');
ok(wait_until(sub { backfill_done($r, 'bf_rls') eq '1' || !$b->{h}->pumpable }, 30), 'the backfill ended')
  or diag(bridge_log($b));
ok(redis($r, 'XLEN', 'public.jobs') eq '10' || bridge_log($b) =~ /ERROR.*row-level security/,
	'every row backfilled, or an error naming row-level security')
  or diag(join "\n", grep { /backfill|ERROR|WARNING/ } split /\n/, bridge_log($b));
unless ($ENV{W2Q_ATTACK_CONTROL})
{
	like(bridge_log($b), qr/ERROR: could not read table public\.jobs for the backfill: query would be affected by row-level security policy for table "jobs".*BYPASSRLS.*FORCE ROW LEVEL SECURITY/,
		'the error names the table and the fix');
	if (ok(!$b->{h}->pumpable, "the bridge stopped"))
	{
		$b->{h}->finish;
		is($b->{h}->full_result(0) >> 8, 1, "exit 1");
	}
	else
	{
		stop_bridge($b, 'KILL');
		fail("exit 1");
	}
	is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_replication_slots}), '0', 'no slot created');
	# the hint's fix: a role with BYPASSRLS reads every row
	$node->safe_psql('postgres', q{ALTER ROLE bridge BYPASSRLS});
	$b = start_bridge($node, $r, '-d', $node->connstr('postgres') . ' user=bridge', '--slot', 'bf_rls',
		'--create-slot', '--tables', 'public.jobs', '--backfill', '--status-interval', '1');
	ok(wait_until(sub { backfill_done($r, 'bf_rls') eq '1' }, 30)
		  && redis($r, 'XLEN', 'public.jobs') eq '10', 'with BYPASSRLS: every row backfilled')
	  or diag(bridge_log($b));
}

# with the extension the backfill marks the slot's older rows delivered
# (mark_backfilled()): prune() then deletes the rows it never delivered
$node->safe_psql('postgres', q{INSERT INTO jobs VALUES (11, 'pending')});
wait_until(sub { scalar(missing_ids($r, [11], 'public.jobs')) == 0 }, 30);
for (1 .. 4)
{
	$node->safe_psql('postgres', 'CHECKPOINT');
	sleep 1;
	wait_attested($node, 'bf_rls', 10);
	# as the table's owner (no FORCE: no policy applies to it, as to a
	# superuser): a superuser's prune() skips another role's table
	is($node->safe_psql('postgres', q{SELECT wal2queue.prune('public.jobs') >= 0}, extra_params => [ '-U', 'bridge' ]),
		't', "the owner's prune() runs");
}
my @lost = grep { $node->safe_psql('postgres', "SELECT count(*) FROM jobs WHERE id = $_") eq '0' }
  missing_ids($r, [ 1 .. 10 ], 'public.jobs');
is(scalar(@lost), 0, 'prune() deleted no row the backfill did not deliver')
  or diag("deleted, never delivered: @lost");
stop_bridge($b, 'KILL') if $b->{h}->pumpable;

# the reader's own row_security = off, not only the check's: a policy that
# starts to apply after the check (here the role loses BYPASSRLS while the
# backfill waits after its slot) is an error at the read, never fewer rows
$node->safe_psql('postgres', q{
	CREATE ROLE bridge3 LOGIN REPLICATION BYPASSRLS;
	CREATE TABLE jobs3 (id bigint PRIMARY KEY, status text NOT NULL);
	ALTER TABLE jobs3 OWNER TO bridge3;
	ALTER TABLE jobs3 ENABLE ROW LEVEL SECURITY;
	ALTER TABLE jobs3 FORCE ROW LEVEL SECURITY;
	CREATE POLICY visible3 ON jobs3 USING (status <> 'hidden');
	INSERT INTO jobs3 SELECT g, CASE WHEN g % 2 = 0 THEN 'hidden' ELSE 'pending' END FROM generate_series(1, 10) g;
});
{
	local $ENV{W2Q_TEST_BACKFILL_PAUSE} = 'slot';
	local $ENV{W2Q_TEST_BACKFILL_PAUSE_SECONDS} = 5;
	$b = start_bridge($node, $r, '-d', $node->connstr('postgres') . ' user=bridge3', '--slot', 'bf_rls3',
		'--create-slot', '--tables', 'public.jobs3', '--backfill', '--status-interval', '1');
}
ok(wait_until(sub { bridge_log($b) =~ /paused at "slot"/ }, 30), 'reader: the backfill checked its table and waits')
  or diag(bridge_log($b));
$node->safe_psql('postgres', q{ALTER ROLE bridge3 NOBYPASSRLS}) unless $ENV{W2Q_ATTACK_CONTROL};
ok(wait_until(sub { backfill_done($r, 'bf_rls3') eq '1' || !$b->{h}->pumpable }, 60), 'reader: the backfill ended')
  or diag(bridge_log($b));
ok(redis($r, 'XLEN', 'public.jobs3') eq '10' || bridge_log($b) =~ /ERROR.*row-level security/,
	'reader: every row backfilled, or an error naming row-level security')
  or diag(join "\n", grep { /backfill|ERROR|WARNING/ } split /\n/, bridge_log($b));
stop_bridge($b, 'KILL') if $b->{h}->pumpable;
stop_redis($r);
$node->stop;
done_testing();
