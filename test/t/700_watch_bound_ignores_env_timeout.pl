# Fixed: the watch's connect bound is pgconnect.c's
# pgerror_connect_bound_s() on the connection just begun, the one the
# stream's poll_connection() uses: connect_timeout as libpq resolved it
# (PQconninfo(): --dbname, PGCONNECT_TIMEOUT, a service file), else
# --recv-timeout (at least 10 s).  slotwatch.c connect_bound_ms(), which
# read --dbname's string only and fell back to 10 s, is gone.
#
# What: logins take 12 s for the bridge's role (an authentication that
# waits on LDAP, RADIUS or PAM; here post_auth_delay = 12 in --dbname's
# options, so only the bridge's connections are slow),
# and the operator gave libpq connect_timeout = 30 the libpq way, in the
# environment (PGCONNECT_TIMEOUT; a service file's connect_timeout is the
# same).  The stream connects (its bound is the connection's own
# connect_timeout, PQconninfo(), which libpq filled from the environment);
# the slot watch never does: each of its connects is given up after 10 s
# ("slot watch: no answer from the server within 10000 ms"), so the slot
# is never attested (and with pgoutput the publication is never proved:
# the stream is dropped every PUBWATCH_STALE_MS).  The same happens with no
# connect_timeout anywhere and logins between 10 s and --recv-timeout (60 s
# by default): the stream's bound is --recv-timeout, the watch's 10 s.
# Why: bridge/slotwatch.c connect_bound_ms() (the pin's start_connect()):
# it reads connect_timeout from the watch's connection string only
# (PQconninfoParse(), which applies no environment and no service file)
# and falls back to PGERROR_CONNECT_MIN_S (10 s), where the stream's bound
# (pgconnect.c poll_connection(): connect_timeout_s() on PQconninfo(conn),
# else default_timeout_s, --recv-timeout) honours both.  683's fix says
# "the stream's bound"; it is not.
# Expected: the watch's connect has the stream's bound; a login the stream
# waits for, the watch waits for too: the slot is attested.
# Severity: medium -- the 683 class again for logins between 10 s and the
# stream's bound, or any connect_timeout given outside --dbname: no
# attestation for prune(), no health, and with pgoutput a stream dropped
# every 5 s.
# Reliable (deterministic).
#
# Control (W2Q_ATTACK_CONTROL=1): the same connect_timeout = 30 given in
# --dbname instead of the environment: the watch waits the 12 s and the
# slot is attested.  Passes.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('slow700');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE TABLE sa (id int PRIMARY KEY);
});
# the bridge's logins take 12 s (the test's own connections do not)
my $connstr = $node->connstr('postgres') . " options='-c post_auth_delay=12'";
local $ENV{PGCONNECT_TIMEOUT} = 30 unless $control;
my $b = start_bridge($node, $r, '-d', $connstr . ($control ? ' connect_timeout=30' : ''),
	'--slot', 'sa', '--create-slot', '--status-interval', '1');
delete $ENV{PGCONNECT_TIMEOUT};
ok(wait_until(sub {
	$node->safe_psql('postgres', 'INSERT INTO sa SELECT coalesce(max(id), 0) + 1 FROM sa');
	(redis($r, 'XLEN', 'public.sa') || 0) >= 1 }, 90), 'sa: streaming (the stream waited for the slow login)')
  or diag(bridge_log($b));
ok(wait_until(sub {
	$node->safe_psql('postgres', 'INSERT INTO sa SELECT max(id) + 1 FROM sa');
	$node->safe_psql('postgres',
	"SELECT attested_lsn IS NOT NULL FROM wal2queue.slots WHERE slot_name = 'sa'") eq 't' }, 45),
	'sa: the slot was attested (the watch waited for the slow login as the stream did)')
  or diag(join("\n", grep { !/DEBUG: confirmed/ } split /\n/, bridge_log($b)));
unlike(bridge_log($b), qr/slot watch: no answer from the server within/,
	"sa: no watch connect was given up before the stream's bound")
  or diag(join("\n", grep { /slot watch/ } split /\n/, bridge_log($b)));
$b->{h}->kill_kill;
stop_redis($r);
$node->stop('immediate');
done_testing();
