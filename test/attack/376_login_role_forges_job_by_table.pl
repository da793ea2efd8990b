# Attack review 11: a role that may only log in forges a job onto any
# target through a table of its own.  README.md: the extension "revokes
# pg_logical_emit_message() from PUBLIC ... so a role that may only log in
# cannot forge jobs".  But the bridge's default selection (no --tables: the
# plugin's "every table but the extension's own", plugin/relinfo.c) takes
# the rows of every table, whoever owns it, and --route-column names a
# column by name only: in a database where PUBLIC may create in schema
# public -- every database of a cluster upgraded from PostgreSQL 14 or
# older with pg_upgrade, which keeps that grant -- the role creates
# public.x (id int PRIMARY KEY, queue text, payload jsonb) and inserts
# ('emails', '{"to": "victim", ...}'): a job on the stream "emails", next
# to the application's own.
# Expected: a role without wal2queue_sender (or a grant on a job table)
# cannot put a job on the stream: e.g. the bridge without --tables refuses
# to start (or warns) where roles other than the job tables' owners may
# create tables in a selected schema, or the default selects only tables
# the extension knows as job tables; at least README says so instead of
# the claim above.
# Severity: medium (forged jobs to any target; needs the PUBLIC CREATE grant
# that upgraded clusters keep, and the default --tables).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('forge_by_table');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	SELECT wal2queue.create_job_table('public.jobs');
	-- what pg_upgrade from PostgreSQL 14 leaves in every database
	GRANT CREATE ON SCHEMA public TO PUBLIC;
	CREATE ROLE mallory LOGIN;
});
my $b = start_bridge($node, $r, '--slot', 'jobs', '--create-slot', '--route-column', 'queue');
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'jobs' AND active") eq '1' }, 30),
	'the bridge streams') or diag(bridge_log($b));
# the control: mallory tries a logical message instead (refused)
if ($ENV{W2Q_ATTACK_CONTROL})
{
	my ($rc, $out, $err) = $node->psql('postgres',
		q{SELECT pg_logical_emit_message(true, 'wal2queue:emails', '{"to": "victim"}')},
		extra_params => [ '-U', 'mallory' ]);
	like($err, qr/permission denied/, 'mallory may not emit a message');
}
else
{
	$node->safe_psql('postgres', q{
		CREATE TABLE public.x (id int PRIMARY KEY, queue text, payload jsonb);
		INSERT INTO public.x VALUES (1, 'emails', '{"to": "victim"}');
	}, extra_params => [ '-U', 'mallory' ]);
}
$node->safe_psql('postgres', q{INSERT INTO jobs (queue, payload) VALUES ('marker', '{}')});
ok(wait_until(sub { (redis($r, 'XLEN', 'marker') // 0) eq '1' }, 30), 'a later job is delivered')
	or diag(bridge_log($b));
is(redis($r, 'XLEN', 'emails') // 0, '0', 'no job from mallory on the stream "emails"');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
