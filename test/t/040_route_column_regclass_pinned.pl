# A --route-column of type regclass routes a backfilled row and a streamed
# row of the same value to the same stream.  The backfill reads rows, and the
# stream's walsender prints them, with the same pinned settings
# (bridge/backfill_sql.h BF_PINNED_SETTINGS, bridge/stream.c pin_settings()),
# among them search_path = pg_catalog, pg_temp: a reg* value prints
# schema-qualified (public.orders where a session with the default
# search_path prints orders), in the wal2queue plugin's output and in
# pgoutput's (plugin/FORMAT.md).  Without the pinning on the replication
# connection the streamed row would print "orders" and go to another stream
# than the backfilled one.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('routereg');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE orders (id int PRIMARY KEY);
	CREATE TABLE jobs (id bigint PRIMARY KEY, queue regclass NOT NULL);
	INSERT INTO jobs VALUES (1, 'orders');
	CREATE PUBLICATION pub_jobs FOR TABLE jobs;
});
is($node->safe_psql('postgres', 'SELECT queue FROM jobs'), 'orders',
	'a session with the default search_path prints the regclass unqualified');

# ids in stream $key
sub ids
{
	my ($key) = @_;
	return join(',', sort map { $_->[1]{id} // '?' } @{ stream_entries($r, $key) });
}

my $id = 2;
for my $plugin ('wal2queue', 'pgoutput')
{
	my $slot = "rc_$plugin";
	my $prefix = "$plugin:";
	my $b = start_bridge($node, $r, '--slot', $slot, '--create-slot', '--backfill',
		'--tables', 'public.jobs', '--route-column', 'queue', '--target-prefix', $prefix,
		($plugin eq 'pgoutput' ? ('--plugin', 'pgoutput', '--publication', 'pub_jobs') : ()));
	ok(wait_until(sub { bridge_log($b) =~ /backfill of slot "$slot" done|ERROR/ || !$b->{h}->pumpable }, 60),
		"$plugin: the backfill ended");
	like(bridge_log($b), qr/backfill of slot "$slot" done/, "$plugin: the backfill is done")
	  or diag(bridge_log($b));
	$node->safe_psql('postgres', "INSERT INTO jobs VALUES ($id, 'orders')");
	my $want = $plugin eq 'wal2queue' ? '1,2' : '1,2,3';
	ok(wait_until(sub { ids("${prefix}public.orders") eq $want || !$b->{h}->pumpable }, 60),
		"$plugin: the backfilled and the streamed rows are both in stream ${prefix}public.orders")
	  or diag('streams: ' . redis($r, 'KEYS', "$prefix*") . "\n" . ids("${prefix}public.orders")
		  . "\n" . bridge_log($b));
	is(redis($r, 'EXISTS', "${prefix}orders"), '0', "$plugin: no stream ${prefix}orders");
	stop_bridge($b);
	$id++;
}
$node->stop;
done_testing();
