# Attack review 4: row data forges the backfill marker.  docs/redis.md: "A row
# delivered by --backfill has _lsn = the slot's consistent point, _seq = its
# number in the backfill (from 1) and a third field _backfill = 1 before its
# columns" -- consumers tell backfilled rows (at least once with
# --backfill-again, "consumers dedupe by table and key") from streamed ones by
# it.  A column named _lsn or _seq stops the bridge (205: "row data could
# forge a job's identity"), but a column named _backfill is written as it is
# (bridge/sink_redis.c, the column check; redis_pipeline.c:resp_arg_entry()):
# a streamed row whose first column is _backfill = 1 is an entry of exactly
# the backfilled shape.  Expected: the bridge refuses the column as it
# refuses _lsn/_seq, or the streamed entry differs from a backfilled one.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bffield');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE odd (_backfill int, id int PRIMARY KEY, v text);
	SELECT pg_create_logical_replication_slot('od', 'wal2queue');
	INSERT INTO odd VALUES (1, 7, 'streamed, not backfilled');
});
my $b = start_bridge($node, $r, '--slot', 'od', '--tables', 'public.odd', '--accept-new-source');
wait_until(sub { !$b->{h}->pumpable || redis($r, 'XLEN', 'public.odd') eq '1' }, 30);
my $x = redis_json($r, 'XRANGE', 'public.odd', '-', '+') // [];
my @f = @{ $x->[0][1] // [] };
diag("bridge " . ($b->{h}->pumpable ? 'runs' : 'stopped') . "; entry fields: @f");
my $forged = @f >= 6 && $f[0] eq '_lsn' && $f[2] eq '_seq' && $f[4] eq '_backfill' && $f[5] eq '1';
ok(!$forged, 'a streamed row cannot take the shape of a backfilled one (_lsn, _seq, _backfill 1)');
$b->{h}->kill_kill if $b->{h}->pumpable;
stop_redis($r);
$node->stop;
done_testing();
