# Fixed: check_generated() (bridge/publication.c) refuses at start, before
# the publication or the slot is created, a --route-column or --key-column
# that is a stored generated column of a selected table, naming it (exit 1).
#
# The attack: pgoutput leaves stored generated columns out of
# its rows (documented: "not in the job").  Not documented, and not checked
# at start: a --route-column (or --key-column) that is a generated column
# -- a common way to route, e.g. queue GENERATED ALWAYS AS (payload->>'queue')
# STORED -- is then never found (bridge/rowjob.c select_columns: column_named
# looks in the Relation message), so every job silently goes to the table's
# own stream instead of its queue, and keys fall back to the primary key.
# The plugin mode routes them to the queue.  Consumers of the queue's stream
# never see the jobs.
# Expected: the same target as the plugin (the bridge cannot compute the
# value), so: the bridge refuses at start a --route-column/--key-column that
# is a generated column of a selected table, naming it.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('pgogen', no_allow_list => 1);
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE ROLE bridge LOGIN REPLICATION;
	GRANT CREATE ON DATABASE postgres TO bridge;
	CREATE TABLE jobs (id int PRIMARY KEY, payload jsonb,
		queue text GENERATED ALWAYS AS (payload->>'queue') STORED);
	ALTER TABLE jobs OWNER TO bridge;
});
my $b = start_bridge($node, $r, '-d', $node->connstr('postgres') . ' user=bridge', '--plugin', 'pgoutput',
	'--publication', 'w2q', '--slot', 'pgo', '--create-slot', '--tables', 'public.jobs',
	'--route-column', 'queue', '--status-interval', '1');
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "pgo"|generated/ }), 'the bridge started or refused')
  or diag(bridge_log($b));
my $refused = bridge_log($b) !~ /streaming slot "pgo"/;
if (!$refused)
{
	$node->safe_psql('postgres', q{INSERT INTO jobs (id, payload) VALUES (1, '{"queue": "emails"}')});
	wait_until(sub { redis($r, 'EXISTS', 'emails', 'public.jobs') ne '0' }, 20);
	sleep 1;
	note('emails: ' . redis($r, 'XLEN', 'emails') . ', public.jobs: ' . redis($r, 'XLEN', 'public.jobs'));
}
ok($refused || redis($r, 'XLEN', 'emails') eq '1',
	'a generated --route-column: the job goes to its queue, or the bridge refuses to start')
  or diag(bridge_log($b));
stop_bridge($b);
is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_replication_slots') . '/'
	. $node->safe_psql('postgres', 'SELECT count(*) FROM pg_publication'), '0/0',
	'the refused start created no slot and no publication');

my @args = ('-d', $node->connstr('postgres') . ' user=bridge', '--plugin', 'pgoutput',
	'--publication', 'w2q', '--slot', 'pgo', '--create-slot', '--tables', 'public.jobs',
	'--sink', "redis://127.0.0.1:$r->{port}");
my ($code, $out) = run_bridge(@args, '--route-column', 'queue');
is($code, 1, 'generated --route-column: exit 1');
like($out, qr/--route-column "queue" is a generated column of table public\.jobs, and pgoutput does not send generated columns/,
	'generated --route-column: the column named');
($code, $out) = run_bridge(@args, '--key-column', 'queue');
is($code, 1, 'generated --key-column: exit 1');
like($out, qr/--key-column "queue" is a generated column of table public\.jobs/,
	'generated --key-column: the column named');
# a generated column of a table --tables does not select is no matter
$node->safe_psql('postgres', q{CREATE TABLE other (id int PRIMARY KEY, payload jsonb,
	queue text GENERATED ALWAYS AS (payload->>'queue') STORED)});
($code, $out) = run_bridge(@args[0 .. 7], '--tables', 'public.other', '--route-column', 'queue',
	'--sink', "redis://127.0.0.1:$r->{port}");
like($out, qr/generated column of table public\.other/, 'the selected table is the one named');
($code, $out) = run_bridge(@args[0 .. 7], '--tables', 'public.nosuch', '--route-column', 'queue',
	'--sink', "redis://127.0.0.1:$r->{port}");
unlike($out, qr/generated column/, 'a generated column of an unselected table is not refused');
stop_redis($r);
$node->stop;
done_testing();
