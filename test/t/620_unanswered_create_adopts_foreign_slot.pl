# What: 614's silent path at CREATE_REPLICATION_SLOT, but the command does
# not make the slot: --create-slot through a TCP path (W2QProxy); the
# command waits for an application transaction that holds an xid; while it
# waits the path goes silent (new connections get through).  An operator
# cancels the stuck command (pg_cancel_backend): it ends with an ERROR, the
# walsender drops its ephemeral slot and goes idle.  The operator then
# makes the slot by hand (pg_create_logical_replication_slot('sj',
# 'wal2queue')), a job is committed, and another client reads it from the
# slot (pg_logical_slot_get_changes).  At the next --recv-timeout bound
# the side check sees the bridge's walsender idle and marks the command as
# "finished, its answer never came" (create_unanswered); the next open
# finds the operator's slot and logs "replication slot "sj" is the one
# this bridge's CREATE_REPLICATION_SLOT made ...: taken as created by this
# run", registers it at its current position and streams from there: the
# job the other client consumed is never delivered and nothing says so;
# without the silent path the same slot is refused as unknown to the sink
# (--accept-new-source is needed).
# Why: bridge/stream.c own_command_running() takes a walsender that is
# "idle" during a CREATE_REPLICATION_SLOT under the --create-slot lock as
# proof that the server made the slot; idle is also what the walsender is
# after the command FAILED (a cancel, "already exists", "all replication
# slots are in use", ...) or before it ever arrived (a request lost on the
# path).  bridge/slot.c slot_check() then takes ANY slot of that name it
# finds at the next open as this run's (slot_created, registry_call(),
# slot_check_reclaim() "checked as new"), without comparing anything of the
# slot with what the command would have made (its creation is not known).
# Expected: a slot the bridge did not make is not taken as this run's: the
# bridge refuses it as it refuses any slot made outside it whose sink
# record is missing ("--accept-new-source"), and streams nothing.
# Severity: medium -- needs a silent path at slot creation plus a slot of
# that name made by someone else before the next open; then the first run's
# detection of a foreign or already-consumed slot is silently skipped
# (jobs consumed by another client lost without a word; the registry's
# start_lsn rewritten to the current position, so prune() and later checks
# see a slot that "delivered nothing").  Reliable (3 of 3).
# Fixed: stream.c own_command_running() marks a CREATE_REPLICATION_SLOT
# as the maker of the slot only on positive evidence: at a check (the
# first one PGERROR_FIRST_CHECK_MS after the command starts, then one per
# bound) a slot of that name was held by the bridge's walsender, and now,
# the walsender idle, it is released at the same restart_lsn (a slot made
# after the command failed begins past the running-transactions record
# the first one logged).  A failed command, a request that never arrived,
# or a finish before the first check mark nothing: the slot is refused as
# any slot made outside the bridge.
# Control (W2Q_ATTACK_CONTROL=1): the same without the cut: the cancel's
# ERROR reaches the bridge, it ends, and its restarts refuse the slot made
# by hand ("unknown to the sink" / --accept-new-source).  Passes.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('adopt620');
$node->append_conf('postgresql.conf', 'max_wal_senders = 10');
$node->restart;
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE TABLE sj (id int PRIMARY KEY);
});
my ($pport, $cut, $pid) = start_blackhole_proxy($node, close_on_cut => 0);
my $conn = "host=127.0.0.1 port=$pport dbname=postgres sslmode=disable gssencmode=disable";
my @args = ('-d', $conn, '--slot', 'sj', '--create-slot', '--status-interval', '1',
	'--recv-timeout', '5');

my $xact = $node->background_psql('postgres');
$xact->query_safe('BEGIN; SELECT pg_current_xact_id()');
my $b = start_bridge($node, $r, @args);
my $wpid;
ok(wait_until(sub { $wpid = $node->safe_psql('postgres', q{
	SELECT pid FROM pg_stat_activity
	WHERE backend_type = 'walsender' AND query LIKE 'CREATE_REPLICATION_SLOT%'
	  AND state = 'active'}); $wpid ne '' }, 30), 'CREATE_REPLICATION_SLOT waits for the transaction');
unless ($control)
{
	open(my $fh, '>', $cut) or die;
	close $fh;
	sleep 1;					# the proxy's loop sees the cut file (0.2 s)
}
# the operator cancels the stuck command, then makes the slot by hand
$node->safe_psql('postgres', "SELECT pg_cancel_backend($wpid)");
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT state FROM pg_stat_activity WHERE pid = $wpid") ne 'active' }, 10),
	'the cancelled command ended');
$xact->quit;
$node->safe_psql('postgres', q{SELECT pg_create_logical_replication_slot('sj', 'wal2queue')});
$node->safe_psql('postgres', 'INSERT INTO sj VALUES (1)');
# another client reads job 1 from the slot
my $eaten = $node->safe_psql('postgres', q{SELECT count(*) FROM pg_logical_slot_get_binary_changes('sj', NULL, NULL)});
note("the other client read $eaten changes");
$node->safe_psql('postgres', 'INSERT INTO sj VALUES (2)');

my $t0 = time;
my $restarts = 0;
my $log = '';
my $got = wait_until(sub {
	unless ($b->{h}->pumpable)
	{
		$b->{h}->finish;
		$log .= bridge_log($b);
		$b = start_bridge($node, $r, @args);
		$restarts++;
	}
	(redis($r, 'XLEN', 'public.sj') || 0) >= 1 }, 40);
$log .= bridge_log($b);
note(sprintf('%.0f s, %d restarts, XLEN %s', time - $t0, $restarts, redis($r, 'XLEN', 'public.sj') // 0));
unlike($log, qr/replication slot "sj" is the one this bridge's CREATE_REPLICATION_SLOT made/,
	'a slot made by hand is not taken as made by this run');
ok(!$got, 'nothing is streamed from a slot made by hand without --accept-new-source '
	. '(job 1 was consumed by another client)')
;
my @lines = grep { /taken as created|checked as new|ERROR|registered|accept-new-source/ && !/DEBUG/ } split /\n/, $log;
note(join("\n", @lines[0 .. ($#lines < 5 ? $#lines : 5)]));
my $reg = $node->safe_psql('postgres', q{SELECT coalesce(string_agg(start_lsn::text, ','), 'none') FROM wal2queue.slots WHERE slot_name = 'sj'});
note("registry: $reg");
my ($gone) = sigterm_bridge($b);
$b->{h}->kill_kill unless $gone;
stop_blackhole_proxy($pid);
stop_redis($r);
$node->stop('immediate');
done_testing();
