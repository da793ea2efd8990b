# docs/operations.md, "Running under systemd", step 1: the unit's command
# line has no --create-slot, so the slot is made once before its first
# start.  Made by hand with pg_create_logical_replication_slot(), the
# unit's bridge stops with exit 1 at every start (the sink has no record of
# a slot with confirmed positions), until one run by hand with
# --accept-new-source; made with the unit's command line plus --create-slot
# (stopped with SIGTERM), every later start of the unit's command streams.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('unit561');
my $r = start_redis();
$node->safe_psql('postgres', q{CREATE TABLE jobs (id int PRIMARY KEY, v text)});
my @unit = ('-d', $node->connstr('postgres'), '--tables', 'public.jobs', '--redis-group', 'workers',
	'--sink', "redis://127.0.0.1:$r->{port}", '--status-interval', '1');

# by hand, with SQL: exit 1 at every start, naming --accept-new-source
$node->safe_psql('postgres', q{SELECT pg_create_logical_replication_slot('byhand', 'wal2queue')});
for my $try (1 .. 2)
{
	my ($code, $out) = run_bridge(@unit, '--slot', 'byhand');
	is($code, 1, "slot made with SQL: the unit's command line exits 1 (start $try)");
	like($out, qr/no progress record.*--accept-new-source/, 'naming --accept-new-source') or diag($out);
}
# the documented way out: one run by hand with --accept-new-source
my $b = start_streaming_bridge(undef, undef, @unit, '--slot', 'byhand', '--accept-new-source');
like(bridge_log($b), qr/streaming slot "byhand"/, 'one run with --accept-new-source streams') or diag(bridge_log($b));
is(stop_bridge($b) >> 8, 0, 'stopped: exit 0');
$b = start_streaming_bridge(undef, undef, @unit, '--slot', 'byhand');
like(bridge_log($b), qr/streaming slot "byhand"/, "then the unit's command line streams") or diag(bridge_log($b));
is(stop_bridge($b) >> 8, 0, 'stopped: exit 0');

# the guide's way: the unit's command line plus --create-slot, once
$b = start_streaming_bridge(undef, undef, @unit, '--slot', 'jobs', '--create-slot');
like(bridge_log($b), qr/streaming slot "jobs"/, '--create-slot run by hand streams') or diag(bridge_log($b));
is(stop_bridge($b) >> 8, 0, 'Ctrl-C (SIGTERM): exit 0');
$node->safe_psql('postgres', q{INSERT INTO jobs VALUES (1, 'one')});
for my $start (1 .. 2)
{
	$b = start_streaming_bridge(undef, undef, @unit, '--slot', 'jobs');
	like(bridge_log($b), qr/streaming slot "jobs"/, "the unit's command line streams (start $start)")
	  or diag(bridge_log($b));
	ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '1' }, 30), 'the job is delivered, once');
	is(stop_bridge($b) >> 8, 0, 'stopped: exit 0');
}
stop_redis($r);
done_testing();
