# Fixed: check_filters() (bridge/publication.c) refuses at start a row
# filter or a column list on a table --tables selects (or on a partition
# of one), naming the table, the filter and the ALTER PUBLICATION ... SET
# that publishes every table whole.
#
# The attack: PostgreSQL 15 publications can carry a row filter
# (FOR TABLE t WHERE (...)) and a column list (FOR TABLE t (a, b)).  The
# bridge's start check (bridge/publication.c check_tables) reads only
# schemaname and tablename of pg_publication_tables, so it accepts such a
# publication (one made by a DBA, or owned by another role) and the jobs are
# silently filtered on the server: rows the filter rejects never become
# jobs and their LSNs are confirmed, and jobs of a column-listed table lack
# the other columns.  The plugin mode delivers every row whole.
# Expected: the bridge refuses at start a publication with a row filter or a
# column list on a selected table, naming the table and what to change.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;
use IPC::Run;

my $node = new_node('pgofilt', no_allow_list => 1);
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE ROLE bridge LOGIN REPLICATION;
	CREATE TABLE jobs (id int PRIMARY KEY, queue text, payload text);
	CREATE TABLE narrow (id int PRIMARY KEY, queue text, payload text);
	CREATE PUBLICATION w2q FOR TABLE jobs WHERE (queue <> 'low'), narrow (id, queue)
		WITH (publish = 'insert', publish_via_partition_root = true);
});
my @args = ('-d', $node->connstr('postgres') . ' user=bridge', '--plugin', 'pgoutput',
	'--publication', 'w2q', '--slot', 'pgo', '--tables', 'public.jobs,public.narrow',
	'--status-interval', '1');
my $b = start_bridge($node, $r, @args, '--create-slot');
my $refused = wait_until(sub { bridge_log($b) =~ /streaming slot "pgo"|row filter|column list/ }, 30)
  && bridge_log($b) !~ /streaming slot "pgo"/;
if (!$refused)
{
	$node->safe_psql('postgres', q{
		INSERT INTO jobs VALUES (1, 'high', 'a'), (2, 'low', 'b');
		INSERT INTO narrow VALUES (1, 'q', 'the payload');
	});
	wait_until(sub { redis($r, 'XLEN', 'public.narrow') eq '1' }, 30);
	sleep 2;
	note('jobs ids: ' . join(',', map { $_->[1]{id} } @{ stream_entries($r, 'public.jobs') }));
	note('narrow fields: ' . join(',', sort keys %{ stream_entries($r, 'public.narrow')->[0][1] // {} }));
}
ok($refused, 'a publication with a row filter and a column list on selected tables is refused at start')
  or diag(bridge_log($b));
stop_bridge($b);
is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_replication_slots'), '0',
	'no slot was created by the refused start');

my ($code, $out) = run_bridge(@args, '--sink', "redis://127.0.0.1:$r->{port}");
is($code, 1, 'row filter: exit 1');
like($out, qr/publication "w2q" has a row filter on table public\.jobs \(WHERE \(queue <> 'low'::text\)\).*hint: publish every table whole, in one statement: ALTER PUBLICATION "w2q" SET TABLE public\.jobs, public\.narrow$/m,
	'row filter: the table, the filter and the fix named');
$node->safe_psql('postgres', q{ALTER PUBLICATION w2q SET TABLE jobs, narrow (id, queue)});
($code, $out) = run_bridge(@args, '--sink', "redis://127.0.0.1:$r->{port}");
is($code, 1, 'column list: exit 1');
like($out, qr/publication "w2q" has a column list on table public\.narrow \(\(id, queue\)\)/,
	'column list: the table and its columns named');
# a filter on a table --tables does not select is the DBA's business
($code, $out) = run_bridge(@args[0 .. 7], '--tables', 'public.jobs', '--sink',
	"redis://127.0.0.1:$r->{port}");
unlike($out, qr/column list|row filter/, 'a column list on a table not selected is not refused');
# a filter on a partition of a selected partitioned table
$node->safe_psql('postgres', q{
	CREATE TABLE parted (id int, region text) PARTITION BY LIST (region);
	CREATE TABLE parted_eu PARTITION OF parted FOR VALUES IN ('eu');
	ALTER PUBLICATION w2q SET TABLE jobs, parted, parted_eu WHERE (id > 10);
});
($code, $out) = run_bridge(@args[0 .. 7], '--tables', 'public.jobs,public.parted', '--sink',
	"redis://127.0.0.1:$r->{port}");
is($code, 1, 'row filter on a partition: exit 1');
like($out, qr/has a row filter on table public\.parted_eu \(WHERE \(id > 10\)\)/,
	'row filter on a partition of a selected table: named');
stop_redis($r);
$node->stop;
done_testing();
