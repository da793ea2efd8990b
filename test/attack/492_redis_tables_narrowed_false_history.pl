# What: the slot restarts below the Redis record's last transaction (the
# usual case after a PostgreSQL crash: the slot's confirmed position is
# durable only at checkpoints, so an immediate stop or a host crash moves
# it back), and the operator restarts the bridge with a narrower
# --tables (a queue table retired), so that transaction is not decoded
# again.  The replay passes the record's txn_end without it and the
# bridge stops, fatally, calling it "another history of the same system
# and timeline (rolled back to a file-level copy?)"; the recovery it
# names (DEL the record, --accept-new-source) drops the dedupe and writes
# every job between the slot and the record a second time.  Nothing was
# rolled back: the operator changed a filter.  The same class: a
# publication narrowed (ALTER PUBLICATION ... DROP TABLE, --plugin=pgoutput),
# a send() key revoked, pg_logical_emit_message() granted to PUBLIC (its
# messages no longer jobs) -- anything that makes the replay skip the
# record's last transaction.
# Why: bridge/redis_progress.c (the deliver function's HISTORY verdict,
# verdict_history(): prev < txn_end <= end and not the transaction the
# record names) takes any replay that passes txn_end without that
# transaction for another history; the Redis record keeps no trace of
# the options that choose the transactions (the Kafka record has its
# "shape", kafka_record.c record_shape(); --tables is in neither).
# Expected: the bridge goes on (job 3 delivered once, jobs 1 and 2 not
# again), or stops naming the real cause (the tables changed since the
# record) with a recovery that does not duplicate.
# Severity: medium-low (a false fatal alarm after a crash plus a routine
# change; the documented way out writes duplicates).
# Control: W2Q_ATTACK_CONTROL=1 restarts with the same --tables: job 3
# is delivered.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('narrow');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE ta (id int PRIMARY KEY);
	CREATE TABLE tb (id int PRIMARY KEY);
	SELECT pg_create_logical_replication_slot('nw', 'wal2queue');
});
my @cmd = ('--slot', 'nw', '--status-interval', '1');
my $b = start_streaming_bridge($node, $r, @cmd, '--tables', 'public.ta,public.tb',
	'--accept-new-source');
$node->safe_psql('postgres', 'INSERT INTO ta VALUES (1)');
ok(wait_until(sub { redis($r, 'XLEN', 'public.ta') eq '1' }, 30), 'job 1 (table ta) delivered');
sleep 2;							# confirmed (--status-interval 1)
$node->safe_psql('postgres', 'CHECKPOINT');	# the slot on disk: after job 1
$node->safe_psql('postgres', 'INSERT INTO tb VALUES (2)');
ok(wait_until(sub { redis($r, 'XLEN', 'public.tb') eq '1' }, 30), 'job 2 (table tb) delivered');
stop_bridge($b);
my $rec = redis($r, 'HGET', 'wal2queue:progress:nw', 'txn_end');
# a crash: the slot comes back at its last checkpoint, below job 2
$node->stop('immediate');
$node->start;
my $slot = slot_confirmed($node, 'nw');
ok($slot lt $rec || length($slot) < length($rec), "the slot ($slot) restarts below the record's last transaction ($rec)");

my $tables = $ENV{W2Q_ATTACK_CONTROL} ? 'public.ta,public.tb' : 'public.ta';
$b = start_streaming_bridge($node, $r, @cmd, '--tables', $tables);
$node->safe_psql('postgres', 'INSERT INTO ta VALUES (3)');
ok(wait_until(sub { redis($r, 'XLEN', 'public.ta') eq '2' }, 20),
	"job 3 (table ta) is delivered after the restart with --tables $tables")
  or diag(bridge_log($b));
ok($b->{h}->pumpable, 'the bridge is still running');
is(redis($r, 'XLEN', 'public.tb'), '1', 'job 2 not written again');
stop_bridge($b) if $b->{h}->pumpable;
stop_redis($r);
$node->stop;
done_testing();
