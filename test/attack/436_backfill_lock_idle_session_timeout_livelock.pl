# What: 400's fix checks, before each page's write, that the lock's session
# still holds the backfill lock, and starts the attempt again when it does
# not.  The lock's connection idles between checks; on a database with
# idle_session_timeout (ALTER DATABASE ... SET, a managed service's or a
# DBA's guard against idle connections) shorter than one page takes to read
# and write, the server ends it during every page: each attempt reads its
# first page, finds the lock gone, drops the page and starts again from the
# sink's state -- the backfill never gets past its first page, forever,
# and nothing is streamed meanwhile.  Here: idle_session_timeout = 2s, a
# condition that takes 1 s a row (pg_sleep), pages of 3 rows (3 s each), 6
# rows: not done after 60 s (done in about 6 s without the timeout).
# Why: bridge/backfill_lock.c lock_connect() sets TCP keepalives but not
# idle_session_timeout = 0 (nor keeps the session busy), and bf_lock_check()
# turns the lost session into BF_RETRY, which restarts the same page.
# Expected: the backfill finishes (each of the 6 rows once): the lock's
# session is not ended for idling (options=-c idle_session_timeout=0, or a
# SET after connecting), or a lost lock retaken at once when no other
# session holds it.
# W2Q_ATTACK_CONTROL=1 sets no idle_session_timeout: passes.
# Severity: medium (a common server setting makes every backfill with
# pages slower than it loop without progress, the slot's WAL piling up).
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfidle');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, queue text);
	INSERT INTO jobs SELECT g, 'q' FROM generate_series(1, 6) g;
});
$node->safe_psql('postgres', q{ALTER DATABASE postgres SET idle_session_timeout = '2s'})
  unless $ENV{W2Q_ATTACK_CONTROL};
my $b = start_bridge($node, $r, '--slot', 'bf_idle', '--create-slot', '--tables', 'public.jobs',
	'--backfill=pg_sleep(1) IS NOT NULL', '--backfill-batch', '3', '--status-interval', '1');
ok(wait_until(sub { (backfill_done($r, 'bf_idle') // '') eq '1' }, 60), 'the backfill finished')
  or diag(join("\n", grep { /lost|backfill|ERROR/ } (split /\n/, bridge_log($b))[0 .. 30]));
is(redis($r, 'XLEN', 'public.jobs'), '6', 'each row once');
stop_bridge($b, 'KILL') if $b->{h}->pumpable;
stop_redis($r);
$node->stop;
done_testing();
