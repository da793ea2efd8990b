# What: a -d conninfo that already says replication=database (as
# pg_recvlogical's users write it; the bridge's --help says it "is added",
# and the stream accepts it) makes every --backfill start fail: the
# backfill's normal connections (the lock's, the check's, the reader's)
# open the conninfo as given, so they are replication connections.
# Why: bridge/backfill_lock.c bf_lock_take() (and backfill_check.c
# backfill_check(), the reader) connect with keys {"dbname",
# "fallback_application_name"} only, where stream.c passes "replication"
# after "dbname" to set it; a replication connection refuses the extended
# query protocol: the run exits 1 at once, "could not read the tables to
# backfill: ERROR:  extended query protocol not supported in a replication
# connection".  (slotwatch.c's two connections use the same keys; not
# tested here.)
# Expected: the backfill's normal connections override replication (add
# "replication" = "false" after "dbname"), and the backfill runs: 10 rows.
# With W2Q_ATTACK_CONTROL=1 the conninfo has no replication=database:
# passes.
# Severity: low (loud, exit 1; a conninfo the stream accepts is refused
# only for backfill, with a message that does not point at the cause).
# Fixed: the backfill's normal connections (the lock's, the check's, the
# reader's, mark_backfilled()'s) pass "replication" = "false" after
# "dbname", overriding the conninfo's.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfrepldb');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id bigint PRIMARY KEY, status text NOT NULL);
	INSERT INTO jobs SELECT g, 'pending' FROM generate_series(1, 10) g;
});
my $conn = $node->connstr('postgres') . ($ENV{W2Q_ATTACK_CONTROL} ? '' : ' replication=database');
my $b = start_bridge($node, $r, '-d', $conn, '--slot', 'bf_rd', '--create-slot',
	'--tables', 'public.jobs', '--backfill', '--status-interval', '1');
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '10' || !$b->{h}->pumpable }, 30)
	  && redis($r, 'XLEN', 'public.jobs') eq '10', 'the backfill delivered the 10 rows')
  or diag(join "\n", grep { /ERROR|WARNING/ } (split /\n/, bridge_log($b))[0 .. 20]);
stop_bridge($b, 'KILL') if $b->{h}->pumpable;
stop_redis($r);
$node->stop;
done_testing();
