# What: a bridge without --create-slot whose stream open waits on a lock
# (here the slot registry, wal2queue.slots, locked by a maintenance
# transaction) gives the command up after --recv-timeout and reconnects,
# leaving the given-up walsender waiting on the lock; every attempt leaves
# one more, until max_wal_senders is used up and every other replication
# client (a physical standby reconnecting, another bridge) is refused.
# Before e93593b the one blocking PQexec held one walsender.
# Why: bridge/stream.c stream_exec() remembers the given-up walsender
# (remember_own()) only when its connection holds the --create-slot lock
# (s->conn_locked), and stream_end_own_walsender() runs only on a busy
# slot; a walsender "holding nothing is left to the server", which keeps it
# as long as the lock is held (the server notices the shut-down socket
# only when it writes the result).
# Expected: at most two walsenders of this bridge at any time (the one
# given up is ended at the next open, or the bridge waits for it), and a
# replication connection of another client is accepted while the lock is
# held.
# Severity: medium -- a lock held for a minute or two (VACUUM FULL, an
# ALTER EXTENSION UPDATE, a forgotten BEGIN; LOCK) makes the bridge use up
# max_wal_senders: standbys cannot reconnect; nothing is lost in the sink.
# Fixed: bridge/stream.c: each open reads its backend's identity first
# (stream_identify_backend(): pg_postmaster_start_time() epoch, the pid,
# backend_start); a given-up command's walsender is remembered by it
# (remember_gone()), whatever it holds, and ended at the next open before
# any command that could wait (end_given_up(): pg_terminate_backend() of
# the walsender of this role whose pid, backend_start and server start all
# match, never another backend); one not gone within 2 s fails the open.
# Control: W2Q_ATTACK_CONTROL=1 runs the second bridge with --create-slot,
# whose given-up walsenders hold the --create-slot lock and are ended
# (passes).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('pile571');
$node->append_conf('postgresql.conf', 'max_wal_senders = 5');
$node->restart;
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE TABLE oj (id int PRIMARY KEY);
});

# the slot made (and registered) by a first run with --create-slot
my $b = start_streaming_bridge($node, $r, '--slot', 'oj', '--create-slot');
$node->safe_psql('postgres', 'INSERT INTO oj VALUES (1)');
ok(wait_until(sub { redis($r, 'XLEN', 'public.oj') eq '1' }, 30), 'job 1 delivered');
sigterm_bridge($b, 20);

$b = start_streaming_bridge($node, $r, '--slot', 'oj', '--recv-timeout', '10',
	$control ? ('--create-slot') : ());
like(bridge_log($b), qr/streaming slot/, 'the second bridge streams');

sub walsenders
{
	return $node->safe_psql('postgres', q{
		SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender'});
}

my $lock = $node->background_psql('postgres');
$lock->query_safe('BEGIN; LOCK TABLE wal2queue.slots IN ACCESS EXCLUSIVE MODE');
$node->safe_psql('postgres', q{
	SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = 'oj'});

my $max = 0;
my $t0 = time();
# three opens given up (each leaving one more walsender before the fix),
# or 75 s
while (time() - $t0 < 75)
{
	my @g = bridge_log($b) =~ /could not run \S+ on the replication connection: no answer/g;
	last if @g >= 3;
	my $n = walsenders();
	$max = $n if $n > $max;
	sleep 2;
}
my @given = bridge_log($b) =~ /could not run \S+ on the replication connection: no answer/g;
ok(@given >= 2, sprintf('the open was given up %d times while the lock was held', scalar @given))
  or diag(bridge_log($b));
cmp_ok($max, '<=', 2, "at most two walsenders of the bridge at a time (seen: $max)");
like(bridge_log($b), qr/ended this bridge's own previous walsender \(pid \d+\), whose command was given up/,
	'the walsender of a given-up open is ended at the next open');
my ($rc, $out, $err) = $node->psql('postgres', 'IDENTIFY_SYSTEM',
	connstr => $node->connstr('postgres') . ' replication=database');
is($rc, 0, 'another replication client is accepted while the lock is held')
  or diag($err, "\n", $node->safe_psql('postgres', q{
	SELECT pid, application_name, state, wait_event_type, wait_event, left(query, 60)
	FROM pg_stat_activity WHERE backend_type = 'walsender'}));

$lock->quit;
$node->safe_psql('postgres', 'INSERT INTO oj VALUES (2)');
ok(wait_until(sub { redis($r, 'XLEN', 'public.oj') eq '2' }, 60), 'after the lock, job 2 is delivered')
  or diag(bridge_log($b));
sigterm_bridge($b, 20);
stop_redis($r);
$node->stop;
done_testing();
