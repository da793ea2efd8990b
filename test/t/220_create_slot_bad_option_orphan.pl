# Found by the attack review (fixed): --create-slot with a plugin option the
# plugin refuses (a --tables pattern without a schema, an empty pattern)
# created the slot first, failed to register it (register_slot refuses the
# pattern: only a warning), then exited 1 when START_REPLICATION was refused.
# The slot stayed: unregistered, so prune() refused every job table in the
# database, it held back WAL, and the corrected command line found it
# existing: never registered, and the bridge demanded --accept-new-source.
# Fixed: --tables and --max-job-bytes are checked by the plugin's rules
# before anything is created (exit 2), and a slot this run created whose
# first START_REPLICATION is refused is dropped again (slot_drop_created;
# with every option the bridge sends now checked first, no command line
# reaches that refusal: 260 covers the same drop after the sink's refusal).
# Also: two bridges started with --create-slot at once: the loser falls back
# to what a bridge does with a slot another bridge holds (--standby: stand
# by), instead of exiting 1 with "already exists" (both CREATE) or with "no
# progress record" (it streamed the slot between the other's CREATE and
# START_REPLICATION).  A session advisory lock per slot name serializes
# bridges started with --create-slot.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('createbadopt');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	SELECT wal2queue.create_job_table('public.jobs');
});
my @base = ('-d', $node->connstr('postgres'), '--sink', "redis://127.0.0.1:$r->{port}");
my $nslots = sub { $node->safe_psql('postgres', qq{SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$_[0]'}) };

my ($rc, $out) = run_bridge(@base, '--slot', 's', '--create-slot', '--tables', 'jobs');
is($rc, 2, 'a --tables pattern without a schema is a usage error');
like($out, qr/invalid pattern "jobs" in --tables: not schema-qualified/, 'the pattern is named');
is($nslots->('s'), '0', 'the refused start created no slot');

($rc, $out) = run_bridge(@base, '--slot', 's', '--create-slot', '--tables', 'public.jobs',
	'--max-job-bytes', '1');
is($rc, 2, 'a --max-job-bytes the plugin would refuse is a usage error');
like($out, qr/invalid value "1" for --max-job-bytes/, 'the value is named');
unlike($out, qr/created replication slot/, 'nothing was created');
is($nslots->('s'), '0', 'the refused start leaves no slot behind');
is($node->safe_psql('postgres', q{SELECT count(*) FROM wal2queue.slots WHERE slot_name = 's'}), '0',
	'nor a registry row');

# the operator corrects the command line: the slot is registered and prune works
my $b = start_bridge($node, $r, '--slot', 's', '--create-slot', '--tables', 'public.jobs',
	'--status-interval', '1');
ok(wait_until(sub { $node->safe_psql('postgres',
	q{SELECT count(*) FROM pg_replication_slots WHERE slot_name = 's' AND active}) eq '1' }, 20),
	'the corrected bridge streams');
$node->safe_psql('postgres', q{INSERT INTO jobs (queue, payload) VALUES ('q', '{}')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '1' }, 20), 'the corrected bridge delivers')
	or diag(bridge_log($b));
is($node->safe_psql('postgres', q{SELECT count(*) FROM wal2queue.slots WHERE slot_name = 's'}), '1',
	'the corrected bridge\'s slot is registered');
stop_bridge($b);

# two bridges create one slot at the same moment (a few rounds: the race is
# a matter of milliseconds); neither may stop, the loser stands by
for my $round (1 .. 3)
{
	my $slot = "race$round";
	my @h;
	for my $i (1, 2)
	{
		my $log = "$PostgreSQL::Test::Utils::tmp_check/race_${round}_$i.log";
		push @h, [ IPC::Run::start([ bridge_path(), @base, '-v', '--slot', $slot, '--create-slot',
			'--standby', '--tables', 'public.jobs', '--target-prefix', "$slot:",
			'--status-interval', '1' ], '>', $log, '2>&1'), $log ];
	}
	ok(wait_until(sub { $node->safe_psql('postgres',
		qq{SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot' AND active}) eq '1' }, 20),
		"round $round: one bridge streams the slot");
	sleep 2;
	my @logs = map { slurp_file($_->[1]) } @h;
	ok($h[0][0]->pumpable && $h[1][0]->pumpable, "round $round: both bridges keep running")
		or diag(join("\n----\n", @logs));
	is(scalar(grep { /standing by: replication slot "$slot" is/ } @logs), 1,
		"round $round: the other one stands by") or diag(join("\n----\n", @logs));
	ok(!grep({ /ERROR/ } @logs), "round $round: no error") or diag(join("\n----\n", @logs));
	for (@h)
	{
		$_->[0]->signal('TERM');
		$_->[0]->finish;
	}
}

stop_redis($r);
$node->stop;
done_testing();
