# What: the bridge's role may not read wal2queue.message_key (the GRANT of
# docs/managed.md step 5 forgotten, given after the bridge started, or
# revoked by the table's owner).  send() jobs are committed meanwhile; the
# operator then grants SELECT and restarts the bridge, as the warning and
# docs/managed.md say.
# Why: with the key table unreadable (MESSAGE_KEY_DENIED, read at each
# stream open: bridge/slot.c) judge_signed() (bridge/pgoutput.c) returns
# SIGNED_NO_JOB for every signed message: counted, one warning, and the
# slot is confirmed past them, so after the GRANT and the restart they are
# gone.  A message signed with a key of a table the bridge does not trust
# stops the bridge with nothing past it confirmed (PGO_UNTRUSTED, test/t/457);
# a signed message it cannot read the key of is the same "cannot be judged"
# case but is dropped.
# Expected: a signed message (wal2queue!ID.MAC) the bridge cannot judge
# because it may not read the keys is not confirmed past (the bridge stops
# or waits, naming the GRANT): after the GRANT and a restart the job is
# delivered.
# Severity: medium -- permanent, silent loss of every send() job of a
# misconfigured (or de-granted) bridge; one warning line is the only trace.
# Fixed: judge_signed() (bridge/pgoutput.c) answers PGO_KEYS_DENIED for a
# signed message while the keys are unreadable: the bridge stops, naming
# the GRANT, and confirms nothing past it.
# Control (W2Q_ATTACK_CONTROL=1): the GRANT is given before the bridge
# starts: the job is delivered.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_managed_node('denied473');
my $r = start_redis();
psql_as($node, 'admin', q{CREATE ROLE app_writer LOGIN IN ROLE wal2queue_sender;
	GRANT USAGE ON SCHEMA wal2queue TO app_writer});
psql_as($node, 'admin', 'GRANT SELECT ON wal2queue.message_key TO bridge') if $control;
my @args = ('-d', $node->connstr('app') . ' user=bridge', '--plugin', 'pgoutput',
	'--publication', 'jobs_pub', '--slot', 'jobs', '--create-slot', '--tables', 'public.jobs',
	'--status-interval', '1');
my $b = start_bridge($node, $r, @args);
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "jobs"/ }), 'the bridge streams') or diag(bridge_log($b));
psql_as($node, 'app_writer', q{SELECT wal2queue.send('emails', '{"n": 1}')});
psql_as($node, 'admin', q{INSERT INTO jobs (queue, payload) VALUES ('q', '{"row": 1}')});
wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '1' || !$b->{h}->pumpable }, 30);
note(bridge_log($b));
like(bridge_log($b), qr/ERROR: a message signed by send\(\) with key [0-9]+ of wal2queue\.message_key in database "app" cannot be judged: the bridge's role may not read wal2queue\.message_key; nothing past it is confirmed; hint: .*GRANT SELECT ON wal2queue\.message_key/,
	'the bridge stops at the signed message it cannot judge, naming the GRANT') unless $control;
stop_bridge($b);

# the operator follows the warning's hint
psql_as($node, 'admin', 'GRANT SELECT ON wal2queue.message_key TO bridge');
$b = start_bridge($node, $r, @args);
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "jobs"/ }), 'the bridge streams again') or diag(bridge_log($b));
psql_as($node, 'admin', q{INSERT INTO jobs (queue, payload) VALUES ('q', '{"row": 2}')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '2' }, 30), 'the rows are delivered')
  or diag(bridge_log($b));
is(redis($r, 'XLEN', 'emails'), '1', 'the send() job committed while the bridge could not read the keys is delivered after the GRANT');
stop_bridge($b);
done_testing();
