# Attack review 4: row data forged the markers consumers read from a Redis
# entry.  docs/redis.md: a row delivered by --backfill has _lsn, _seq, then
# _backfill = 1 -- consumers of --backfill-again tell those at-least-once
# copies by it; a claim check (plugin/FORMAT.md) is recognised in Redis only
# by its field wal2queue_claim_check (the entry carries no table), and sends
# a worker to read the row its "table" and "key" name.  A column named _lsn
# or _seq stopped the bridge (205), but a streamed row whose first column was
# _backfill = 1 became an entry of exactly the backfilled shape, and a row
# with columns wal2queue_claim_check = true, table, key one of the claim
# check's shape (a worker reads another table's row as its job).
# Fixed: redis_target.c:redis_reserved_column() refuses, as for _lsn/_seq, a
# column named _backfill, and one named wal2queue_claim_check in any
# relation but the plugin's own wal2queue.claim_check (relid 0): exit 1
# naming table, key, column and what to do, nothing written, nothing
# confirmed past it; in the plugin mode, with --plugin=pgoutput, and in the
# backfill (redis_backfill.c uses the same check).  Columns named "table"
# or "key" alone are ordinary and delivered.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bffield');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE odd (_backfill int, id int PRIMARY KEY, v text);
	CREATE TABLE cc (wal2queue_claim_check bool, kind text, "table" text, key text, id int PRIMARY KEY);
	CREATE TABLE tk ("table" text, key text, id int PRIMARY KEY);
	SELECT pg_create_logical_replication_slot('od', 'wal2queue');
	SELECT pg_create_logical_replication_slot('cs', 'wal2queue');
	SELECT pg_create_logical_replication_slot('tk', 'wal2queue');
	INSERT INTO odd VALUES (1, 7, 'streamed, not backfilled');
	INSERT INTO cc VALUES (true, 'row', 'public.secrets', '1', 1);
	INSERT INTO tk VALUES ('public.secrets', '1', 1);
});

# one refused column: the bridge stops, exit 1, naming table, key, column, what to do
sub refused
{
	my ($label, $slot, $table, $column, $rule, @more) = @_;
	my $before = slot_confirmed($node, $slot);
	my $b = start_bridge($node, $r, '--slot', $slot, '--tables', "public.$table",
		'--accept-new-source', '--status-interval', '1', @more);
	ok(wait_until(sub { !$b->{h}->pumpable }, 30), "$label: the bridge stops")
	  or $b->{h}->kill_kill;
	$b->{h}->finish;
	is($b->{h}->full_result(0) >> 8, 1, "$label: exit 1");
	like(bridge_log($b), qr/ERROR.*of table public\.$table \(key "[^"]*"\) committed at [0-9A-F]+\/[0-9A-F]+ to Redis: $rule.*\(column "$column"\); exclude the table \(--tables\) or rename the column/,
		"$label: the error names table, key, column and what to do") or diag(bridge_log($b));
	is(redis($r, 'EXISTS', "public.$table"), '0', "$label: nothing written");
	is(slot_confirmed($node, $slot) // '', $before // '', "$label: the slot is not confirmed past it")
	  if defined $slot && $slot ne '';
}

refused('_backfill column', 'od', 'odd', '_backfill',
	qr/a column named _backfill would give the entry the shape of a row delivered by --backfill/);
refused('wal2queue_claim_check column', 'cs', 'cc', 'wal2queue_claim_check',
	qr/a column named wal2queue_claim_check would give the entry the shape of a claim check/);

# "table" and "key" alone are ordinary columns
my $b = start_bridge($node, $r, '--slot', 'tk', '--tables', 'public.tk', '--accept-new-source');
ok(wait_until(sub { redis($r, 'XLEN', 'public.tk') eq '1' }, 30), '"table" and "key" columns: delivered')
  or diag(bridge_log($b));
stop_bridge($b);

# the same check with --plugin=pgoutput (slots created by the bridge)
$node->safe_psql('postgres', q{INSERT INTO odd VALUES (2, 8, 'x'); INSERT INTO cc VALUES (true, 'row', 'public.secrets', '2', 2)});
for my $t ([ 'odd', '_backfill', 'pgo_od' ], [ 'cc', 'wal2queue_claim_check', 'pgo_cc' ])
{
	my ($table, $column, $slot) = @$t;
	my $b = start_bridge($node, $r, '--plugin', 'pgoutput', '--publication', "pub_$table",
		'--slot', $slot, '--create-slot', '--tables', "public.$table", '--status-interval', '1');
	wait_until(sub { bridge_log($b) =~ /streaming slot/ || !$b->{h}->pumpable }, 30);
	$node->safe_psql('postgres', $table eq 'odd' ? "INSERT INTO odd VALUES (3, 9, 'y')"
		: "INSERT INTO cc VALUES (true, 'row', 'public.secrets', '3', 3)");
	ok(wait_until(sub { !$b->{h}->pumpable }, 30), "pgoutput, $column column: the bridge stops")
	  or $b->{h}->kill_kill;
	$b->{h}->finish;
	is($b->{h}->full_result(0) >> 8, 1, "pgoutput, $column column: exit 1");
	like(bridge_log($b), qr/ERROR.*of table public\.$table .*to Redis: a column named $column would .*\(column "$column"\); exclude the table/,
		"pgoutput, $column column: the error names the column") or diag(bridge_log($b));
	is(redis($r, 'EXISTS', "public.$table"), '0', "pgoutput, $column column: nothing written");
}

# the backfill refuses the claim check's field too
my ($rc, $out) = run_bridge('-d', $node->connstr('postgres'), '--sink', "redis://127.0.0.1:$r->{port}",
	'--slot', 'bfc', '--create-slot', '--backfill', 'true', '--tables', 'public.cc');
is($rc, 1, 'backfill, wal2queue_claim_check column: exit 1');
like($out, qr/cannot backfill table public\.cc to Redis \(column wal2queue_claim_check\): a column named wal2queue_claim_check would .*; exclude the table or rename the column/,
	'backfill, wal2queue_claim_check column: the error names the column');
is(redis($r, 'EXISTS', 'public.cc'), '0', 'backfill: nothing written');
stop_redis($r);
$node->stop;
done_testing();
