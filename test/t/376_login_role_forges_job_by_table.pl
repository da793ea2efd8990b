# Fixed (was test/attack, review 11), as a documented rule and a warning: a
# role that may only log in put a job on any target through a table of its
# own.  README.md said the extension's revoking pg_logical_emit_message()
# from PUBLIC means "a role that may only log in cannot forge jobs"; but the
# bridge's default selection (no --tables: every table but the extension's
# own, plugin/relinfo.c) takes the rows of every table, whoever owns it, and
# in a database where PUBLIC may create in schema public (every database of
# a cluster upgraded from PostgreSQL 14 or older with pg_upgrade keeps that
# grant) the role creates public.x (id, queue, payload) and inserts
# ('emails', ...): a job on the stream "emails".
# The default selection is a contract and stays.  Now the bridge warns at
# start (bridge/precheck.c, check_open_schemas()) naming each selected schema
# in which PUBLIC or a role other than its owner (not a superuser) may
# CREATE: with no --tables every schema but wal2queue; with --tables the
# schemas of the patterns that have a '*' in the table part or match no
# table yet.  README.md and docs/extension.md state the rule: a LOGIN-only
# role cannot put a job on a stream only where it can create no table the
# bridge selects (REVOKE CREATE ... FROM PUBLIC, or --tables).
# Checked here: the warning with the default selection and with --tables
# 'public.*' (naming the schema and PUBLIC), none with --tables public.jobs
# (the name is taken); after REVOKE CREATE ON SCHEMA public FROM PUBLIC no
# warning, mallory cannot create the table and no job of hers reaches
# "emails".  (W2Q_ATTACK_CONTROL=1 leaves the GRANT out: no warning at all.)
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('forge_by_table');
my $r = start_redis();
my $grant = $ENV{W2Q_ATTACK_CONTROL} ? '' : 'GRANT CREATE ON SCHEMA public TO PUBLIC;';
$node->safe_psql('postgres', qq{
	CREATE EXTENSION wal2queue;
	SELECT wal2queue.create_job_table('public.jobs');
	-- what pg_upgrade from PostgreSQL 14 leaves in every database
	$grant
	CREATE ROLE mallory LOGIN;
});
my $warning = qr/WARNING.*roles other than the schema's owner may create tables in schemas that (\S.*) selects: public \(PUBLIC\); such a role can put a job on any target through a table of its own; hint: REVOKE CREATE ON SCHEMA \.\.\. FROM PUBLIC/;

# start a bridge with these arguments, wait until it streams, return its log
sub bridge_start_log
{
	my (@args) = @_;
	my $b = start_bridge($node, $r, '--slot', 'jobs', @args);
	ok(wait_until(sub { $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'jobs' AND active") eq '1' }, 30),
		"the bridge streams (@args)") or diag(bridge_log($b));
	return $b;
}

my $b = bridge_start_log('--create-slot', '--route-column', 'queue');
my $log = bridge_log($b);
if ($ENV{W2Q_ATTACK_CONTROL})
{
	unlike($log, qr/may create tables/, 'no warning where only the owner may create');
}
else
{
	like($log, $warning, 'the default selection: a warning names schema public and PUBLIC');
	$log =~ $warning;
	is($1, 'the default selection (no --tables: every table)', 'it names the default selection');
}
stop_bridge($b);

unless ($ENV{W2Q_ATTACK_CONTROL})
{
	$b = bridge_start_log('--tables', 'public.*', '--route-column', 'queue');
	like(bridge_log($b), $warning, "--tables 'public.*': the warning too");
	stop_bridge($b);
	$b = bridge_start_log('--tables', 'public.jobs', '--route-column', 'queue');
	unlike(bridge_log($b), qr/may create tables/, '--tables public.jobs (a taken name): no warning');
	stop_bridge($b);
}

# the rule applied: only the owner may create in public
$node->safe_psql('postgres', 'REVOKE CREATE ON SCHEMA public FROM PUBLIC');
$b = bridge_start_log('--route-column', 'queue');
unlike(bridge_log($b), qr/may create tables/, 'after REVOKE CREATE ... FROM PUBLIC: no warning');
my ($rc, $out, $err) = $node->psql('postgres', q{
	CREATE TABLE public.x (id int PRIMARY KEY, queue text, payload jsonb);
	INSERT INTO public.x VALUES (1, 'emails', '{"to": "victim"}');
}, extra_params => [ '-U', 'mallory' ]);
like($err, qr/permission denied for schema public/, 'mallory may not create a table in public');
$node->safe_psql('postgres', q{INSERT INTO jobs (queue, payload) VALUES ('marker', '{}')});
ok(wait_until(sub { (redis($r, 'XLEN', 'marker') // 0) eq '1' }, 30), 'a later job is delivered')
	or diag(bridge_log($b));
is(redis($r, 'XLEN', 'emails') // 0, '0', 'no job from mallory on the stream "emails"');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
