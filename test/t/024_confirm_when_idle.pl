# Once nothing is in flight the bridge confirms the position it delivered at
# once (at most every 10 ms), not at the next 100 ms status tick: a slot
# whose consumer has caught up is not held back, and a caller waiting for
# confirmed_flush_lsn (make bench, a migration) sees it move with the jobs.
# Each round commits one job after the previous one was confirmed, so the
# last status went out just before it: the old 100 ms gap made every round
# wait about 100 ms.  The median of the rounds is compared, so a round slowed
# by a busy machine does not decide.  Also: the entries keep their layout
# through the function's argument slices (_lsn, _seq, then the columns).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('idleconfirm');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, payload text, note text);
	SELECT pg_create_logical_replication_slot('jobs', 'wal2queue');
	-- commit one job, then the milliseconds until the slot confirms it
	CREATE PROCEDURE round(i int, INOUT ms float8) LANGUAGE plpgsql AS $$
	DECLARE
		before pg_lsn := pg_current_wal_insert_lsn();
		t0 timestamptz;
	BEGIN
		INSERT INTO jobs VALUES (i, 'job ' || i, NULL);
		COMMIT;
		t0 := clock_timestamp();
		WHILE (SELECT confirmed_flush_lsn <= before FROM pg_replication_slots
			   WHERE slot_name = 'jobs') LOOP
			PERFORM pg_sleep(0.001);
			IF clock_timestamp() > t0 + interval '10 s' THEN
				RAISE EXCEPTION 'job % not confirmed within 10 s', i;
			END IF;
		END LOOP;
		ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
	END $$;
});
my $br = start_bridge($node, $r, '--slot', 'jobs', '--tables', 'public.jobs',
	'--accept-new-source');
$node->safe_psql('postgres', "CALL round(0, NULL)");
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '1' }), 'the first job is delivered');

my @ms;
for my $i (1 .. 9)
{
	push @ms, $node->safe_psql('postgres', "CALL round($i, NULL)");
}
my @sorted = sort { $a <=> $b } @ms;
my $median = $sorted[4];
note('ms from commit to confirmation: ' . join(' ', map { sprintf '%.1f', $_ } @ms));
cmp_ok($median, '<', 50,
	"with nothing in flight a delivered job is confirmed at once (median $median ms, not ~100)");

my $e = stream_entries($r, 'public.jobs');
is(scalar @$e, 10, 'ten entries');
is_deeply([ sort keys %{ $e->[3][1] } ], [ '_lsn', '_seq', 'id', 'payload' ],
	'an entry has _lsn, _seq and its non-NULL columns');
is($e->[3][1]{payload}, 'job 3', '  with their values');
stop_bridge($br);
stop_redis($r);
$node->stop;
done_testing();
