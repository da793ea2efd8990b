# ATTACK (fails on main): exactly once into Kafka rests on per-partition
# marks: a replayed job is skipped only when the mark of the partition its
# key hashes to is at or past its (lsn, seq) (docs/kafka.md, "Marks").  The
# plugin computes a row's key from the catalog as of the transaction
# (historic snapshot), so a replay lands where the first delivery did.
# With --plugin=pgoutput the bridge takes the primary key from the catalog
# of NOW, read when it connects (bridge/publication.c read_keys), and
# applies it to old WAL (bridge/rowjob.c catalog_key).  A bridge killed
# after delivering a transaction (and PostgreSQL crashed, so the slot
# replays it: PG 15 saves confirmed_flush_lsn only at checkpoints), then the
# job table's primary key changed (here: moved to another column) before
# it restarts: the replayed jobs get other keys, hash to other partitions
# whose marks are behind, and are written a second time.
# Expected: every job exactly once in the topic (the same script in the
# plugin mode, wal2queue allow-listed, passes: 40 messages).
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
$mout = '';
$min .= "create public.jobs 8\n";
$mock->pump until $mout =~ /\n/;

sub consume
{
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'kcat', '-b', $bootstrap, '-C', '-t', 'public.jobs', '-o', 'beginning', '-e', '-J', '-q' ],
		'>', \$out, '2>', \$err, IPC::Run::timeout(60));
	return [ map { decode_json($_) } grep { /^\{/ } split /\n/, $out ];
}

my $node = new_node('pgoreplay', no_allow_list => 1);
$node->safe_psql('postgres', q{
	CREATE ROLE bridge LOGIN REPLICATION;
	GRANT CREATE ON DATABASE postgres TO bridge;
	CREATE TABLE jobs (id int CONSTRAINT jobs_pk PRIMARY KEY, v text NOT NULL);
	ALTER TABLE jobs OWNER TO bridge;
});
my @args = ('-d', $node->connstr('postgres') . ' user=bridge', '--plugin', 'pgoutput',
	'--publication', 'w2q', '--slot', 'pgo', '--tables', 'public.jobs',
	'--sink', "kafka://$bootstrap");
my $b = start_bridge($node, undef, @args, '--create-slot', '--status-interval', '1');
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "pgo"/ }), 'streaming') or diag(bridge_log($b));
my $start = slot_confirmed($node, 'pgo');
$node->safe_psql('postgres', q{INSERT INTO jobs SELECT g, 'v' || g FROM generate_series(1, 40) g});
ok(wait_until(sub { scalar(@{ consume() }) == 40 }, 60), 'the 40 jobs are in Kafka') or diag(bridge_log($b));
$b->{h}->signal('KILL');
$b->{h}->finish;
# PostgreSQL 15 keeps a slot's confirmed_flush_lsn in memory until the slot
# is saved: a crash takes it back, and the slot replays the delivered jobs
$node->stop('immediate');
$node->start;
is(slot_confirmed($node, 'pgo'), $start, 'after a PostgreSQL crash the slot replays the delivered transaction');

# while the bridge is down the job table's key moves to another column
$node->safe_psql('postgres', q{
	ALTER TABLE jobs DROP CONSTRAINT jobs_pk;
	ALTER TABLE jobs ADD CONSTRAINT jobs_pk PRIMARY KEY (v);
});
my $end = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
$b = start_bridge($node, undef, @args, '--status-interval', '1');
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT confirmed_flush_lsn >= '$end' FROM pg_replication_slots WHERE slot_name = 'pgo'") eq 't' }, 60),
	'the restarted bridge replays and confirms') or diag(bridge_log($b));
sleep 2;
my $msgs = consume();
my %n;
$n{ decode_json($_->{payload})->{id} }++ for @$msgs;
is(scalar(@$msgs), 40, 'every job exactly once after the replay (no second copy under a new key)')
  or diag(scalar(grep { $n{$_} > 1 } keys %n) . ' jobs written twice');
stop_bridge($b);
$node->stop;
$mock->kill_kill;
done_testing();
