# What: a PostgreSQL crash (the slot's confirmed position is durable only
# at checkpoints, so it comes back below the Redis record), then the
# operator restarts the bridge with a WIDER --tables (table tb let in).
# The replay from the slot decodes tb's transactions again, now as jobs:
# tb's job 2 (committed below the record's txn_end) is skipped as
# "delivered", tb's job 5 (committed between txn_end and the record's lsn,
# where the record moved past it with a position without jobs) is
# delivered as new (docs/redis.md "Restore below the record").  The stream
# public.tb starts with job 5 and a hole where job 2 is, and the bridge
# says nothing: no WARNING, no error, exit 0 -- a consumer cannot tell.
# Either tb's history starts at the slot (2 and 5) or at the restart
# (neither); half of it, silently, is the defect.
# Why: bridge/redis_progress.c (the deliver script: end <= record.lsn and
# end <= txn_end is skipped as delivered, whatever the options) and
# bridge/redis_history.c (txn_options are compared only in the HISTORY
# verdict, i.e. when the replay passes txn_end WITHOUT the record's
# transaction; with a wider --tables the record's transaction comes again,
# so the options change is never looked at).
# Fixed: bridge/redis_history.c progress_check_record(): at a session's
# start the bridge reads the record (one HMGET); a replay from below the
# record's last transaction (txn_end) under other selecting options than
# txn_options (the plugin, --publication, --tables, compared as sets of
# patterns: "public.ta, public.ta" is "public.ta") stops at once, exit 1,
# nothing written or confirmed, with 492's "options changed" verdict and
# its way out.  This test follows the way out: the recorded options (in
# another spelling, not refused) until the slot has confirmed past the
# record, a CHECKPOINT, then the wider --tables: public.tb's history starts
# after the restart (job 6), with no hole.
# Control: W2Q_ATTACK_CONTROL=1 restarts with the same --tables (tb not
# let in): tb holds neither job.  (A CHECKPOINT before the immediate stop
# is no control: PostgreSQL 15 writes a slot whose only change is its
# confirmed_flush_lsn at no checkpoint, so the slot came back at job 1
# anyway.)
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

sub lsn_num
{
	my ($hi, $lo) = split m{/}, $_[0];
	return hex($hi) * 4294967296 + hex($lo);
}

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('widen');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE ta (id int PRIMARY KEY);
	CREATE TABLE tb (id int PRIMARY KEY);
	SELECT pg_create_logical_replication_slot('nw', 'wal2queue');
});
my @cmd = ('--slot', 'nw', '--status-interval', '1');
my $b = start_streaming_bridge($node, $r, @cmd, '--tables', 'public.ta', '--accept-new-source');
$node->safe_psql('postgres', 'INSERT INTO ta VALUES (1)');
ok(wait_until(sub { redis($r, 'XLEN', 'public.ta') eq '1' }, 30), 'job 1 (table ta) delivered');
sleep 2;							# confirmed (--status-interval 1)
$node->safe_psql('postgres', 'CHECKPOINT');	# the slot on disk: after job 1
$node->safe_psql('postgres', 'INSERT INTO tb VALUES (2)');	# not selected yet
$node->safe_psql('postgres', 'INSERT INTO ta VALUES (3)');
ok(wait_until(sub { redis($r, 'XLEN', 'public.ta') eq '2' }, 30), 'job 3 (table ta) delivered');
$node->safe_psql('postgres', 'INSERT INTO tb VALUES (5)');	# not selected yet
my $after5 = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
# the record's lsn moves past job 5's transaction (a position without jobs)
ok(wait_until(sub {
	my $l = redis($r, 'HGET', 'wal2queue:progress:nw', 'lsn');
	$l =~ m{/} && lsn_num($l) >= lsn_num($after5) }, 30),
	"the record's lsn passes tb's job 5 ($after5)")
  or diag(redis($r, 'HGETALL', 'wal2queue:progress:nw'));
sleep 2;
stop_bridge($b);
my $rec = redis($r, 'HGET', 'wal2queue:progress:nw', 'txn_end');
is(redis($r, 'XLEN', 'public.tb'), '0', 'nothing of tb delivered (not selected)');
$node->stop('immediate');
$node->start;
my $slot = slot_confirmed($node, 'nw');
ok(lsn_num($slot) < lsn_num($rec), "the slot ($slot) restarts below the record's last transaction ($rec)");

# the operator lets tb in
my $tables = $control ? 'public.ta' : 'public.ta,public.tb';
$b = start_streaming_bridge($node, $r, @cmd, '--tables', $tables);
$node->safe_psql('postgres', 'INSERT INTO ta VALUES (4)');
if ($control)
{
	ok(wait_until(sub { redis($r, 'XLEN', 'public.ta') eq '3' }, 30),
		'job 4 (table ta) delivered after the restart with the same --tables') or diag(bridge_log($b));
	ok($b->{h}->pumpable, 'the bridge runs');
	is(redis($r, 'XLEN', 'public.tb'), '0', 'public.tb holds nothing');
	stop_bridge($b);
	stop_redis($r);
	$node->stop;
	done_testing();
	exit 0;
}
ok(wait_until(sub { !$b->{h}->pumpable }, 30), 'the bridge with tb let in stops at once') or diag(bridge_log($b));
my $rc = $b->{h}->pumpable ? -1 : stop_bridge($b) >> 8;
my $log = bridge_log($b);
is($rc, 1, '  with exit 1');
like($log, qr/the options that choose transactions changed since the record \(not another history\)/,
	'  naming the cause: the options changed');
like($log, qr/chosen with the options "--plugin=wal2queue --tables=public\.ta", but this bridge runs with "--plugin=wal2queue --tables=public\.ta,public\.tb" and slot "nw" restarts at \Q$slot\E, below that transaction/,
	'  the old and new options, and where the slot restarts');
like($log, qr/restart once with the recorded options until slot "nw" has confirmed past \Q$rec\E .*--accept-new-source would write every job between the slot and the record again$/m,
	'  and the way out, whole');
is(redis($r, 'XLEN', 'public.tb'), '0', '  nothing of tb written');
is(redis($r, 'XLEN', 'public.ta'), '2', '  nothing of ta written');
is(slot_confirmed($node, 'nw'), $slot, '  nothing confirmed: the slot stays where it was');

# the way out: the recorded options (another spelling of them) until the
# slot is past the record, a CHECKPOINT, then the wider list
$b = start_streaming_bridge($node, $r, @cmd, '--tables', 'public.ta, public.ta');
ok(wait_until(sub { redis($r, 'XLEN', 'public.ta') eq '3' }, 30),
	'the recorded options in another spelling are not refused: job 4 delivered') or diag(bridge_log($b));
my $top = redis($r, 'HGET', 'wal2queue:progress:nw', 'lsn');
ok(wait_until(sub { lsn_num(slot_confirmed($node, 'nw')) >= lsn_num($top) }, 30),
	"  and the slot is confirmed past the record ($top)");
$node->safe_psql('postgres', 'CHECKPOINT');
stop_bridge($b);
$b = start_streaming_bridge($node, $r, @cmd, '--tables', 'public.ta,public.tb');
$node->safe_psql('postgres', 'INSERT INTO tb VALUES (6)');
ok(wait_until(sub { redis($r, 'XLEN', 'public.tb') eq '1' }, 30),
	'then the bridge with tb let in delivers tb\'s job 6') or diag(bridge_log($b));
ok($b->{h}->pumpable, '  and keeps running');
my $ids = join(',', map { $_->[1]{id} } @{ stream_entries($r, 'public.tb') });
is($ids, '6', 'public.tb starts after the restart: job 6 only, no hole');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
