# What: SIGHUP, the signal operators and tools send to a daemon to reload
# or reopen its log (`kill -HUP`, logrotate's postrotate, a closed
# terminal, `docker kill -s HUP`, `systemctl kill -s HUP`), kills the
# bridge at once: no drain, no confirmation of what was delivered, no log
# line.  Under the documented unit (docs/wal2queue-bridge@.service:
# Restart=on-failure) systemd counts death by SIGHUP as a clean exit
# (SIGHUP, SIGINT, SIGTERM, SIGPIPE are "clean" signals), so it does not
# restart it: delivery stops silently until someone looks.
# Why: bridge/main.c:206-213 installs handlers for SIGINT and SIGTERM and
# ignores SIGPIPE only; SIGHUP keeps its default disposition (terminate).
# Expected: SIGHUP does not end the bridge (ignored, or logged as "nothing
# to reload"); it keeps streaming and delivers the next job.  (Or, at the
# least, it is a graceful stop like SIGTERM with a non-clean exit status.)
# Severity: medium-low (no loss or duplicate: the slot replays; a silent
# outage of delivery under the documented unit).
# Control: W2Q_ATTACK_CONTROL=1 sends no SIGHUP: the next job is delivered.
# Fixed: bridge/main.c set_signals() handles SIGHUP, SIGUSR1 and SIGUSR2:
# the handler notes the signal, the loop logs it ("received signal 1
# (Hangup): the bridge has nothing to reload and goes on") and goes on.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('sighup');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE hj (id int PRIMARY KEY, p text);
	SELECT pg_create_logical_replication_slot('hs', 'wal2queue');
});
my $b = start_streaming_bridge($node, $r, '--slot', 'hs', '--status-interval', '1',
	'--accept-new-source');
$node->safe_psql('postgres', q{INSERT INTO hj VALUES (1, 'a')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.hj') eq '1' }, 30), 'first job delivered');
$b->{h}->signal('HUP') unless $ENV{W2Q_ATTACK_CONTROL};
sleep 1;
ok($b->{h}->pumpable, 'the bridge is still running after SIGHUP')
	or diag('exit: ' . (eval { $b->{h}->finish; $b->{h}->full_result(0) } // $@)
	  . ' (wait status; 1 = killed by SIGHUP); log: ' . bridge_log($b));
$node->safe_psql('postgres', q{INSERT INTO hj VALUES (2, 'b')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.hj') eq '2' }, 15),
	'the job committed after SIGHUP is delivered');
like(bridge_log($b), qr/received signal 1 \(Hangup\): the bridge has nothing to reload and goes on/,
	'and the signal is logged') unless $ENV{W2Q_ATTACK_CONTROL};
$b->{h}->signal('USR1');
$node->safe_psql('postgres', q{INSERT INTO hj VALUES (3, 'c')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.hj') eq '3' }, 15) && $b->{h}->pumpable,
	'SIGUSR1 changes nothing either');
if ($b->{h}->pumpable) { stop_bridge($b) } else { eval { $b->{h}->finish } }
stop_redis($r);
$node->stop;
done_testing();
