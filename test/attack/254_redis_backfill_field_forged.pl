# Attack review 4: row data forges the backfill marker.  docs/redis.md: "A row
# delivered by --backfill has _lsn = the slot's consistent point, _seq = its
# number in the backfill (from 1) and a third field _backfill = 1 before its
# columns" -- consumers tell backfilled rows (at least once with
# --backfill-again, "consumers dedupe by table and key") from streamed ones by
# it.  A column named _lsn or _seq stops the bridge (205: "row data could
# forge a job's identity"), but a column named _backfill is written as it is
# (bridge/sink_redis.c, the column check; redis_pipeline.c:resp_arg_entry()):
# a streamed row whose first column is _backfill = 1 is an entry of exactly
# the backfilled shape.  Likewise a claim check (plugin/FORMAT.md): in Redis
# it is recognised only by its field wal2queue_claim_check (the entry does
# not carry the table), so a row of any selected table with the columns
# wal2queue_claim_check = true, table, key sends a worker to read another
# table's row as its job.  Expected: the bridge refuses such columns as it
# refuses _lsn/_seq, or the streamed entries differ from a backfilled row and
# from a claim check.
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
	CREATE TABLE cc (wal2queue_claim_check bool, kind text, "table" text, key text, id int PRIMARY KEY);
	INSERT INTO cc VALUES (true, 'row', 'public.secrets', '1', 1);
});
my $b = start_bridge($node, $r, '--slot', 'od', '--tables', 'public.odd,public.cc', '--accept-new-source');
wait_until(sub { !$b->{h}->pumpable || (redis($r, 'XLEN', 'public.odd') eq '1' && redis($r, 'XLEN', 'public.cc') eq '1') }, 30);
my $x = redis_json($r, 'XRANGE', 'public.odd', '-', '+') // [];
my @f = @{ $x->[0][1] // [] };
diag("bridge " . ($b->{h}->pumpable ? 'runs' : 'stopped') . "; entry fields: @f");
my $forged = @f >= 6 && $f[0] eq '_lsn' && $f[2] eq '_seq' && $f[4] eq '_backfill' && $f[5] eq '1';
ok(!$forged, 'a streamed row cannot take the shape of a backfilled one (_lsn, _seq, _backfill 1)');
my $c = stream_entries($r, 'public.cc')->[0][1] // {};
diag('claim-check-like entry: ' . join(' ', map { "$_=$c->{$_}" } sort keys %$c));
ok(!(($c->{wal2queue_claim_check} // '') eq 't' && ($c->{table} // '') eq 'public.secrets'),
	'a streamed row cannot take the shape of a claim check (wal2queue_claim_check t, table, key)');
$b->{h}->kill_kill if $b->{h}->pumpable;
stop_redis($r);
$node->stop;
done_testing();
