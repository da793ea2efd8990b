# Found by attack review 11 (fixed): a bad --max-job-bytes was not a usage
# error.  The bridge checked only that the value was non-empty and handed it
# to the plugin; with --create-slot it created the slot, registered it, learnt
# at START_REPLICATION that the plugin refused the value, dropped the slot
# again and exited 1 ('8kb': units are case-sensitive; '1TB', '-5', 'lots').
# Fixed: bridge/main.c checks --max-job-bytes with the plugin's own grammar
# and range (common/bytesize.c, shared with plugin/options.c: decimal bytes
# with an optional kB, MB or GB, 1kB to 256MB) before connecting: exit 2
# with a hint naming the option, the accepted forms and the range; no slot
# is created.  A good size is passed on as its byte count.
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
for my $v ('8kb', '1TB', '-5', 'lots', '0x1000', '1023', '257MB')
{
	my ($code, $out) = run_bridge('-d', $node->connstr('postgres'),
		'--sink', "redis://127.0.0.1:$r->{port}", '--slot', 'cli_mjb', '--create-slot',
		'--tables', 'public.jobs', '--max-job-bytes', $v);
	is($code, 2, "--max-job-bytes $v: exit 2 (usage)") or diag($out);
	like($out, qr/invalid value "\Q$v\E" for --max-job-bytes \(decimal bytes from 1024 \(1kB\) to 268435456 \(256MB\), optionally with a unit kB, MB or GB/,
		"--max-job-bytes $v: the message names the option, its forms and its range");
	unlike($out, qr/connect/i, "--max-job-bytes $v: refused before connecting");
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
is($code, 0, 'a good size (8kB) passes the check (--help)');
stop_redis($r);
$node->stop;
done_testing();
