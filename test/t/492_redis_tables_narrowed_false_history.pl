# What: the slot restarts below the Redis record's last transaction (the
# usual case after a PostgreSQL crash: the slot's confirmed position is
# durable only at checkpoints, so an immediate stop or a host crash moves
# it back), and the operator restarts the bridge with a narrower
# --tables (a queue table retired), so that transaction is not decoded
# again.  The replay passes the record's txn_end without it and the
# bridge stopped, fatally, calling it "another history of the same system
# and timeline (rolled back to a file-level copy?)"; the recovery it
# named (DEL the record, --accept-new-source) drops the dedupe and writes
# every job between the slot and the record a second time.  Nothing was
# rolled back: the operator changed a filter.  The same class: a
# publication narrowed (ALTER PUBLICATION ... DROP TABLE, --plugin=pgoutput),
# a send() key revoked, pg_logical_emit_message() granted to PUBLIC (its
# messages no longer jobs) -- anything that makes the replay skip the
# record's last transaction.
# Why: bridge/redis_progress.c (the deliver function's HISTORY verdict,
# verdict_history(): prev < txn_end <= end and not the transaction the
# record names) took any replay that passes txn_end without that
# transaction for another history; the Redis record kept no trace of
# the options that choose the transactions.
# Fixed: bridge/redis_progress.c (wal2queue_v1_deliver7) and redis_history.c record, with
# the last transaction, the options that chose it (txn_options: the
# plugin, --publication, --tables).  A HISTORY verdict under other options
# than the record's stops the bridge (exit 1, nothing confirmed) naming
# the cause (the options changed, not another history), both option lists
# and a way out that writes nothing twice: restart once with the record's
# options until the slot has confirmed past the record's last transaction
# (then a CHECKPOINT), then with the new ones.  This test follows it: job 3
# is delivered once, jobs 1 and 2 are not written again, and the narrowed
# bridge then goes on.  (The bridge does not go on by itself: nothing but
# decoding that transaction again proves it is in this server's history;
# an xid's pg_xact_status() is "committed" in a rolled-back history too.
# Options outside the command line -- a publication's tables, a revoked
# send() key -- are not recorded: those still stop as another history.)
# Since test/t/550 the same verdict comes at the session's start, before
# anything is sent (redis_history.c progress_check_record(): the slot
# restarts below txn_end under other options), with the same wording.
# Control: W2Q_ATTACK_CONTROL=1 restarts with the same --tables: job 3
# is delivered, the bridge keeps running.
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

my $node = new_node('narrow');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE ta (id int PRIMARY KEY);
	CREATE TABLE tb (id int PRIMARY KEY);
	SELECT pg_create_logical_replication_slot('nw', 'wal2queue');
});
my @cmd = ('--slot', 'nw', '--status-interval', '1');
my $wide = 'public.ta,public.tb';
my $b = start_streaming_bridge($node, $r, @cmd, '--tables', $wide, '--accept-new-source');
$node->safe_psql('postgres', 'INSERT INTO ta VALUES (1)');
ok(wait_until(sub { redis($r, 'XLEN', 'public.ta') eq '1' }, 30), 'job 1 (table ta) delivered');
sleep 2;							# confirmed (--status-interval 1)
$node->safe_psql('postgres', 'CHECKPOINT');	# the slot on disk: after job 1
$node->safe_psql('postgres', 'INSERT INTO tb VALUES (2)');
ok(wait_until(sub { redis($r, 'XLEN', 'public.tb') eq '1' }, 30), 'job 2 (table tb) delivered');
stop_bridge($b);
my $rec = redis($r, 'HGET', 'wal2queue:progress:nw', 'txn_end');
is(redis($r, 'HGET', 'wal2queue:progress:nw', 'txn_options'), "--plugin=wal2queue --tables=$wide",
	'the record keeps the options its last transaction was chosen with');
# a crash: the slot comes back at its last checkpoint, below job 2
$node->stop('immediate');
$node->start;
my $slot = slot_confirmed($node, 'nw');
ok(lsn_num($slot) < lsn_num($rec), "the slot ($slot) restarts below the record's last transaction ($rec)");

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $tables = $control ? $wide : 'public.ta';
$b = start_streaming_bridge($node, $r, @cmd, '--tables', $tables);
$node->safe_psql('postgres', 'INSERT INTO ta VALUES (3)');
if ($control)
{
	ok(wait_until(sub { redis($r, 'XLEN', 'public.ta') eq '2' }, 20),
		"job 3 (table ta) is delivered after the restart with --tables $tables")
	  or diag(bridge_log($b));
	ok($b->{h}->pumpable, 'the bridge is still running');
}
else
{
	ok(wait_until(sub { !$b->{h}->pumpable }, 30), 'the bridge restarted with --tables public.ta stops')
	  or diag(bridge_log($b));
	my $rc = $b->{h}->pumpable ? -1 : stop_bridge($b) >> 8;
	my $log = bridge_log($b);
	is($rc, 1, '  with exit 1');
	like($log, qr/the options that choose transactions changed since the record \(not another history\)/,
		'  naming the cause: the options changed');
	like($log, qr/chosen with the options "--plugin=wal2queue --tables=\Q$wide\E", but this bridge runs with "--plugin=wal2queue --tables=public\.ta"/,
		'  and the old and new options');
	like($log, qr/restart once with the recorded options until slot "nw" has confirmed past \Q$rec\E/,
		'  and a way out that writes nothing twice');
	unlike($log, qr/another history of the same system/, '  not "another history"');
	is(slot_confirmed($node, 'nw'), $slot, '  nothing confirmed: the slot stays where it was');
	is(redis($r, 'XLEN', 'public.ta'), '1', '  nothing written');

	# the way out: the record's options until the slot is past its transaction
	$b = start_streaming_bridge($node, $r, @cmd, '--tables', $wide);
	ok(wait_until(sub { redis($r, 'XLEN', 'public.ta') eq '2' }, 30),
		'the way out: with the record\'s --tables job 3 is delivered') or diag(bridge_log($b));
	ok(wait_until(sub { lsn_num(slot_confirmed($node, 'nw')) >= lsn_num($rec) }, 30),
		"  and the slot is confirmed past $rec");
	$node->safe_psql('postgres', 'CHECKPOINT');
	stop_bridge($b);
	$b = start_streaming_bridge($node, $r, @cmd, '--tables', 'public.ta');
	$node->safe_psql('postgres', 'INSERT INTO ta VALUES (4)');
	ok(wait_until(sub { redis($r, 'XLEN', 'public.ta') eq '3' }, 30),
		'then the bridge with --tables public.ta delivers job 4') or diag(bridge_log($b));
	ok($b->{h}->pumpable, '  and keeps running');
	my $ids = join(',', map { $_->[1]{id} } @{ stream_entries($r, 'public.ta') });
	is($ids, '1,3,4', '  table ta holds jobs 1, 3 and 4, each once');
}
is(redis($r, 'XLEN', 'public.tb'), '1', 'job 2 not written again');
stop_bridge($b) if $b->{h}->pumpable;
stop_redis($r);
$node->stop;
done_testing();
