# Attack review 11: a bad --max-job-bytes is not a usage error.  The bridge
# checks only that the value is non-empty (bridge/main.c: case 17,
# nonempty()) and hands it to the plugin; with --create-slot it creates the
# slot, registers it (or fails to: only a WARNING), and learns at
# START_REPLICATION that the plugin refuses the value: exit 1, after it
# dropped the slot again (test/t/220's cleanup).  The operator's typo
# ('8kb': GUC units are case-sensitive; '1TB', '-5', 'lots') thus creates and
# drops a slot (a registry row written and removed, WAL retained meanwhile),
# and the exit status (1) says "runtime failure", not "fix your command line".
# Without --create-slot the same value is an exit 1 after connecting.
# Expected: exit 2 with a hint naming --max-job-bytes and its form (a number
# of bytes with an optional kB, MB or GB, 1kB to 256MB), and no slot is
# created.
# Severity: low.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('cli_mjb');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	SELECT wal2queue.create_job_table('public.jobs');
});
my @values = $ENV{W2Q_ATTACK_CONTROL} ? () : ('8kb', '1TB', '-5', 'lots');
for my $v (@values)
{
	my ($code, $out) = run_bridge('-d', $node->connstr('postgres'),
		'--sink', "redis://127.0.0.1:$r->{port}", '--slot', 'cli_mjb', '--create-slot',
		'--tables', 'public.jobs', '--max-job-bytes', $v);
	is($code, 2, "--max-job-bytes $v: exit 2 (usage)") or diag($out);
	like($out, qr/max-job-bytes/, "--max-job-bytes $v: the message names the option");
	unlike($out, qr/created replication slot/, "--max-job-bytes $v: no slot was created");
	is($node->safe_psql('postgres', "SELECT count(*) FROM pg_replication_slots"), '0',
		"--max-job-bytes $v: no slot left");
	$node->safe_psql('postgres', q{
		SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE NOT active;
		SELECT wal2queue.unregister_slot('cli_mjb')});
	redis($r, 'FLUSHALL');
}
my ($code, $out) = run_bridge('-d', $node->connstr('postgres'),
	'--sink', "redis://127.0.0.1:$r->{port}", '--slot', 'cli_mjb', '--create-slot',
	'--tables', 'public.jobs', '--max-job-bytes', '8kB', '--help');
is($code, 0, 'the control: --help with a good size');
stop_redis($r);
$node->stop;
done_testing();
