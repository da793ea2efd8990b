# What: 610's setup (a conninfo with options='-crole=w2q', login "ops" a
# member of the NOLOGIN role w2q, which sees only state NULL of ops's
# backends in pg_stat_activity), at the other watched wait:
# CREATE_REPLICATION_SLOT waits for a transaction that holds an xid (an
# application's open transaction) past --recv-timeout.  The side check
# reads NULL, takes it for "the backend is gone" and gives the command up
# at the first bound: the bridge ENDS ("ERROR: could not run
# CREATE_REPLICATION_SLOT on the replication connection: the server ended
# the connection and no word of it came: the path went silent"), on its
# first start, with a false diagnosis (nothing went silent).  The
# walsender, which waits without reading its socket, notices the EOF when
# the transaction ends and drops its ephemeral slot (no orphan slot was
# seen, 1 of 1); a restarted bridge creates the slot (checked here after
# the transaction ended).  Under Restart= each start repeats this while a
# transaction longer than --recv-timeout runs.
# Why: bridge/stream.c own_command_running() (as 610): a row hidden from
# the checking role reads as a backend gone; bridge/pgerror.c
# exec_watched() then gives up CREATE_REPLICATION_SLOT, which 570's fix
# bounded by the stop flag only because a slot created and left
# unregistered stops the first run.
# Expected: the wait goes on until the transaction ends (a hidden row
# tells nothing); the slot is created and registered; job 1 delivered, by
# the first bridge.
# Severity: low-medium -- the first start ends (or restart-loops) while an
# application transaction runs longer than --recv-timeout, with a false
# "the path went silent"; no loss, no slot left behind.  Reliable (2 of 2).
# Fixed: as 610 (stream.c own_command_running(): a hidden row tells
# nothing; the CREATE_REPLICATION_SLOT wait goes on).
# Control (W2Q_ATTACK_CONTROL=1): GRANT pg_read_all_stats TO w2q: the wait
# goes on (state 'active').  Passes.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('role611');
$node->append_conf('postgresql.conf', 'max_wal_senders = 10');
$node->restart;
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE TABLE oj (id int PRIMARY KEY);
	CREATE ROLE w2q NOLOGIN;
	CREATE ROLE ops LOGIN REPLICATION;
	GRANT w2q TO ops;
	GRANT USAGE ON SCHEMA wal2queue TO w2q;
});
$node->safe_psql('postgres', 'GRANT pg_read_all_stats TO w2q') if $control;
my $conn = $node->connstr('postgres') . " user=ops options='-crole=w2q'";
is($node->safe_psql('postgres', 'SELECT current_user', extra_params => ['-d', $conn]), 'w2q',
	'the conninfo acts as w2q');

my $lock = $node->background_psql('postgres');
$lock->query_safe('BEGIN; SELECT pg_current_xact_id()');
my $b = start_bridge($node, $r, '-d', $conn, '--slot', 'oj', '--create-slot', '--recv-timeout', '5');
ok(wait_until(sub { $node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_stat_activity
	WHERE backend_type = 'walsender' AND query LIKE 'CREATE_REPLICATION_SLOT%'
	  AND state = 'active'}) >= 1 }, 30), 'CREATE_REPLICATION_SLOT waits for the open transaction');
# three bounds of --recv-timeout 5: the transaction lasts
sleep 16;
unlike(bridge_log($b), qr/went silent/,
	'a CREATE_REPLICATION_SLOT waiting for a transaction is not given up')
  or diag(join("\n", grep { /regist|silent|given|could not/ } split /\n/, bridge_log($b)));
$lock->quit;
# the bridge may have ended: start it again, as systemd's Restart= would
ok(wait_until(sub { bridge_log($b) =~ /streaming slot/ || !$b->{h}->pumpable }, 60),
	'the bridge streams or has ended');
unless ($b->{h}->pumpable)
{
	$b->{h}->finish;
	diag('the bridge ended; the slots: ' . $node->safe_psql('postgres',
		q{SELECT s.slot_name || ' registered: ' || (r.slot_name IS NOT NULL)
		  FROM pg_replication_slots s LEFT JOIN wal2queue.slots r USING (slot_name)}));
	ok(wait_until(sub { $node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender'}) eq '0' }, 30),
		'the orphaned walsender ended');
	$b = start_bridge($node, $r, '-d', $conn, '--slot', 'oj', '--create-slot', '--recv-timeout', '5');
}
ok(wait_until(sub { bridge_log($b) =~ /streaming slot/ || !$b->{h}->pumpable }, 60)
	&& bridge_log($b) =~ /streaming slot/, 'the bridge streams')
  or diag(join("\n", grep { !/DEBUG/ } split /\n/, bridge_log($b)));
$node->safe_psql('postgres', 'INSERT INTO oj VALUES (1)');
ok(wait_until(sub { (redis($r, 'XLEN', 'public.oj') || 0) >= 1 }, 30), 'job 1 delivered')
  or diag(join("\n", grep { !/DEBUG/ } split /\n/, bridge_log($b)));
is($node->safe_psql('postgres', q{SELECT count(*) FROM wal2queue.slots WHERE slot_name = 'oj'}),
	'1', 'the slot is registered')
  or diag($node->safe_psql('postgres', 'SELECT slot_name, active_pid FROM pg_replication_slots'));
sigterm_bridge($b, 20) if $b->{h}->pumpable;
stop_redis($r);
$node->stop;
done_testing();
