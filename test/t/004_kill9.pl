# kill -9 of the bridge mid-stream, several times, then SIGTERM: every job
# exactly once in Redis; SIGTERM leaves within seconds with exit 0 and a
# confirmed position that covers exactly what Redis holds.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use W2QTest;

my $node = new_node('kill9');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, payload text NOT NULL);
	SELECT pg_create_logical_replication_slot('jobs', 'wal2queue');
});
# 400,000 jobs in 4,000 transactions
$node->safe_psql('postgres', q{
	DO $$ BEGIN
	  FOR t IN 0..3999 LOOP
	    INSERT INTO jobs SELECT g, repeat('x', 50) || g FROM generate_series(t * 100 + 1, t * 100 + 100) g;
	    COMMIT;
	  END LOOP;
	END $$;
});
my $total = 400000;

for my $round (1 .. 3)
{
	my $b = start_bridge($node, $r, '--slot', 'jobs', '--status-interval', '1',
		($round == 1 ? ('--accept-new-source') : ()));
	my $target = redis($r, 'XLEN', 'public.jobs') + 20000;
	wait_until(sub { redis($r, 'XLEN', 'public.jobs') >= $target }, 60);
	$b->{h}->signal('KILL');
	$b->{h}->finish;
	my $n = redis($r, 'XLEN', 'public.jobs');
	ok($n < $total, "round $round: killed mid-stream at $n jobs");
}

# SIGTERM mid-stream: exit 0 within seconds, confirmed covers what Redis holds
my $b = start_bridge($node, $r, '--slot', 'jobs', '--status-interval', '1');
my $had = redis($r, 'XLEN', 'public.jobs');
wait_until(sub { redis($r, 'XLEN', 'public.jobs') >= $had + 20000 }, 60);
my $t0 = time();
my $rc = stop_bridge($b);
my $took = time() - $t0;
is($rc >> 8, 0, 'SIGTERM: exit 0');
ok($took < 5, sprintf('SIGTERM: gone in %.2f s', $took));
my $confirmed = slot_confirmed($node, 'jobs');
my $in_redis = redis($r, 'XLEN', 'public.jobs');
my $left = $node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_logical_slot_peek_changes('jobs', NULL, NULL, 'format', 'json')});
ok($in_redis < $total, "SIGTERM came mid-stream ($in_redis of $total delivered)");
is($in_redis + $left, $total, "confirmed position matches Redis ($in_redis delivered + $left left)");

# finish the stream
$b = start_bridge($node, $r, '--slot', 'jobs');
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq "$total" }, 120), 'all jobs arrive in the end');
sleep 1;
my $e = stream_entries($r, 'public.jobs');
my %seen;
$seen{ $_->[1]{id} }++ for @$e;
is(scalar(@$e), $total, 'exactly as many entries as jobs');
is(scalar(keys %seen), $total, 'every job exactly once');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
