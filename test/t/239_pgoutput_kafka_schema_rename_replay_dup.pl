# Fixed: with the event trigger wal2queue_schema_rename (sql/src/60_schema_rename.sql,
# here from the standalone script built from the tree's sql/src, run by a
# superuser) the renaming transaction invalidates the schema's published
# tables, so every walsender describes them again, by the new name, at the
# rename's position: the first delivery and the replay both name job 2
# new_s.jobs, and the replay skips it (test/t/238 covers the bridge's stop
# without the trigger).
#
# The attack: the consequence of 238 for exactly once into Kafka.  A row
# inserted after ALTER SCHEMA old_s RENAME TO new_s was delivered by the
# pgoutput mode to topic old_s.jobs (the stale name of the running
# walsender's relation cache).  PostgreSQL crashes before the slot saved the
# confirmation of that row (PG 15 saves confirmed_flush_lsn only with the
# slot; it did save one past the row before the rename), the slot replays
# it, and the new walsender names the table by the catalog of that
# transaction: new_s.jobs, a topic without marks, so the job was written
# again (the Kafka marks are per topic and partition).  The plugin mode
# names it new_s.jobs both times and skips it on replay.
# Expected: every job exactly once across the topics (the same script in the
# plugin mode, wal2queue allow-listed, passes: job 1 in old_s.jobs, job 2 in
# new_s.jobs, once each).
use strict;
use warnings;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $root = $ENV{W2Q_ROOT};
my ($min, $mout, $merr) = ('', '', '');
my $mock = IPC::Run::start(["$root/test/helpers/kafka-mock", '1'], \$min, \$mout, \$merr);
$mock->pump until $mout =~ /\n/;
my ($bootstrap) = $mout =~ /^(\S+)/;

sub ids
{
	my ($topic) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'kcat', '-b', $bootstrap, '-C', '-t', $topic, '-o', 'beginning', '-e', '-J', '-q' ],
		'>', \$out, '2>', \$err, IPC::Run::timeout(30));
	return [ map { decode_json(decode_json($_)->{payload})->{id} } grep { /^\{/ } split /\n/, $out ];
}

my $script = $PostgreSQL::Test::Utils::tmp_check . '/wal2queue-standalone.sql';
run_command([ "$root/sql/make-standalone.sh", $script, sort glob("$root/sql/src/*.sql") ]);
my $node = new_node('pgoschemak', no_allow_list => 1);
my ($o, $e) = run_command([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'),
	'-f', $script ]);
unlike($e, qr/ERROR/, 'the standalone script installs, with the event trigger');
$node->safe_psql('postgres', q{
	CREATE ROLE bridge LOGIN REPLICATION;
	CREATE SCHEMA old_s;
	CREATE TABLE old_s.jobs (id int PRIMARY KEY, v text);
	CREATE PUBLICATION w2q FOR TABLE old_s.jobs WITH (publish = 'insert', publish_via_partition_root = true);
	SELECT pg_create_logical_replication_slot('pgo', 'pgoutput');
	CHECKPOINT;
});
my @args = ('-d', $node->connstr('postgres') . ' user=bridge', '--plugin', 'pgoutput', '--publication', 'w2q',
	'--slot', 'pgo', '--tables', 'old_s.jobs,new_s.jobs', '--status-interval', '1',
	'--sink', "kafka://$bootstrap", '--accept-new-source');
my $b = start_bridge($node, undef, @args);
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "pgo"/ }), 'streaming') or diag(bridge_log($b));
my $start = slot_confirmed($node, 'pgo');
$node->safe_psql('postgres', q{INSERT INTO old_s.jobs VALUES (1, 'before')});
my $end1 = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
# the slot saves a confirmed position past job 1 once the bridge confirms
# past a running-xacts record (a CHECKPOINT writes one)
ok(wait_until(sub { $node->safe_psql('postgres', 'CHECKPOINT'); sleep 2;
	$node->safe_psql('postgres', "SELECT restart_lsn >= '$end1' FROM pg_replication_slots WHERE slot_name = 'pgo'") eq 't' }, 60),
	'the slot saved a position past job 1');
$node->safe_psql('postgres', q{ALTER SCHEMA old_s RENAME TO new_s});
$node->safe_psql('postgres', q{INSERT INTO new_s.jobs VALUES (2, 'after')});
my $end = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT confirmed_flush_lsn >= '$end' FROM pg_replication_slots WHERE slot_name = 'pgo'") eq 't' }, 60),
	'both jobs delivered and confirmed') or diag(bridge_log($b));
stop_bridge($b);
note('old_s.jobs: ' . join(',', @{ ids('old_s.jobs') }) . '; new_s.jobs: ' . join(',', @{ ids('new_s.jobs') }));
# the crash takes the slot's confirmation back: both transactions are replayed
$node->stop('immediate');
$node->start;
my $c = slot_confirmed($node, 'pgo');
is($node->safe_psql('postgres', "SELECT '$c'::pg_lsn >= '$end1' AND '$c'::pg_lsn < '$end'"), 't',
	"after the crash the slot replays job 2 only (from $c)");
$b = start_bridge($node, undef, @args);
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT confirmed_flush_lsn >= '$end' FROM pg_replication_slots WHERE slot_name = 'pgo'") eq 't' }, 60),
	'replayed and confirmed') or diag(bridge_log($b));
sleep 2;
my @all = (@{ ids('old_s.jobs') }, @{ ids('new_s.jobs') });
note('old_s.jobs: ' . join(',', @{ ids('old_s.jobs') }) . '; new_s.jobs: ' . join(',', @{ ids('new_s.jobs') }));
is(join(',', sort @all), '1,2', 'every job exactly once across the topics');
is(join(',', @{ ids('new_s.jobs') }), '2', 'job 2 in new_s.jobs, as in the plugin mode');
unlike(bridge_log($b), qr/ERROR/, 'the bridge streams on') or diag(bridge_log($b));
stop_bridge($b);
$node->stop;
$mock->kill_kill;
done_testing();
