# Fixed: with --plugin=pgoutput a row's key is what its Relation message
# flags (bridge/pgoutput.c: the primary key under REPLICA IDENTITY DEFAULT,
# in table order; no key under FULL, NOTHING, USING INDEX), built by the
# walsender as of the row, never the catalog read when the bridge connects;
# the catalog of now only decides whether to start (bridge/publication.c
# check_keys: a table whose primary key pgoutput would not flag is refused,
# naming it and what to run).  So a replay keys every row as its first
# delivery did, whatever happened to the key in between.
#
# The attack: exactly once into Kafka rests on per-partition marks: a
# replayed job is skipped only when the mark of the partition its key
# hashes to is at or past its (lsn, seq) (docs/kafka.md, "Marks").  The
# bridge took the primary key (in index order) from the catalog of NOW,
# read when it connected (read_keys, catalog_key), and applied it to old
# WAL.  A bridge killed after delivering a transaction (and PostgreSQL
# crashed, so the slot replays it: PG 15 saves confirmed_flush_lsn only at
# checkpoints), then the job tables' keys changed before it restarts: a key
# moved to another column (jobs), the same columns in another order (comp:
# the old bridge keyed it ["b","a"], then ["a","b"]) -- the replayed jobs
# got other keys, hashed to other partitions whose marks are behind, and
# were written a second time.
# Expected: every job exactly once in the topics.
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
for my $t ('public.jobs', 'public.comp')
{
	$mout = '';
	$min .= "create $t 8\n";
	$mock->pump until $mout =~ /\n/;
}

sub consume
{
	my ($topic) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'kcat', '-b', $bootstrap, '-C', '-t', $topic, '-o', 'beginning', '-e', '-J', '-q' ],
		'>', \$out, '2>', \$err, IPC::Run::timeout(60));
	return [ map { decode_json($_) } grep { /^\{/ } split /\n/, $out ];
}

my $node = new_node('pgoreplay', no_allow_list => 1);
$node->safe_psql('postgres', q{
	CREATE ROLE bridge LOGIN REPLICATION;
	GRANT CREATE ON DATABASE postgres TO bridge;
	CREATE TABLE jobs (id int CONSTRAINT jobs_pk PRIMARY KEY, v text NOT NULL);
	CREATE TABLE comp (a int, b int, v text, CONSTRAINT comp_pk PRIMARY KEY (b, a));
	ALTER TABLE jobs OWNER TO bridge;
	ALTER TABLE comp OWNER TO bridge;
});
my @args = ('-d', $node->connstr('postgres') . ' user=bridge', '--plugin', 'pgoutput',
	'--publication', 'w2q', '--slot', 'pgo', '--tables', 'public.jobs,public.comp',
	'--sink', "kafka://$bootstrap");
my $b = start_bridge($node, undef, @args, '--create-slot', '--status-interval', '1');
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "pgo"/ }), 'streaming') or diag(bridge_log($b));
like(bridge_log($b), qr/WARNING: the primary key of table public\.comp lists its columns as \(b, a\), and pgoutput flags them in table order/,
	'a composite key in another order than the table is said at start');
my $start = slot_confirmed($node, 'pgo');
$node->safe_psql('postgres', q{
	INSERT INTO jobs SELECT g, 'v' || g FROM generate_series(1, 40) g;
	INSERT INTO comp SELECT g, 100 - g, 'c' || g FROM generate_series(1, 40) g;
});
ok(wait_until(sub { scalar(@{ consume('public.jobs') }) == 40 && scalar(@{ consume('public.comp') }) == 40 }, 60),
	'the 80 jobs are in Kafka') or diag(bridge_log($b));
is(consume('public.comp')->[0]{key} =~ /^\["\d+","\d+"\]$/ ? 'ok' : consume('public.comp')->[0]{key}, 'ok',
	'a composite key is a JSON array');
my %first = map { (decode_json($_->{payload})->{a} => $_->{key}) } @{ consume('public.comp') };
is($first{1}, '["1","99"]', 'in table order (a, b)');
$b->{h}->signal('KILL');
$b->{h}->finish;
# PostgreSQL 15 keeps a slot's confirmed_flush_lsn in memory until the slot
# is saved: a crash takes it back, and the slot replays the delivered jobs
$node->stop('immediate');
$node->start;
is(slot_confirmed($node, 'pgo'), $start, 'after a PostgreSQL crash the slot replays the delivered transaction');

# while the bridge is down the job tables' keys change
$node->safe_psql('postgres', q{
	ALTER TABLE jobs DROP CONSTRAINT jobs_pk;
	ALTER TABLE jobs ADD CONSTRAINT jobs_pk PRIMARY KEY (v);
	ALTER TABLE comp DROP CONSTRAINT comp_pk;
	ALTER TABLE comp ADD CONSTRAINT comp_pk PRIMARY KEY (a, b);
});
my $end = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
$b = start_bridge($node, undef, @args, '--status-interval', '1');
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT confirmed_flush_lsn >= '$end' FROM pg_replication_slots WHERE slot_name = 'pgo'") eq 't' }, 60),
	'the restarted bridge replays and confirms') or diag(bridge_log($b));
sleep 2;
for my $t ('public.jobs', 'public.comp')
{
	my $msgs = consume($t);
	my %n;
	$n{ $_->{key} }++ for @$msgs;
	is(scalar(@$msgs), 40, "$t: every job exactly once after the replay (no second copy under a new key)")
	  or diag(scalar(grep { $n{$_} > 1 } keys %n) . ' keys written twice');
}
stop_bridge($b);

# what pgoutput cannot flag is refused at start, naming the table and the fix
$node->safe_psql('postgres', q{
	CREATE TABLE full_t (id int PRIMARY KEY, v text);
	ALTER TABLE full_t REPLICA IDENTITY FULL;
	CREATE TABLE def_t (id int PRIMARY KEY DEFERRABLE, v text);
	CREATE TABLE nopk_t (id int NOT NULL, v text);
	CREATE UNIQUE INDEX nopk_t_id ON nopk_t (id);
	ALTER TABLE nopk_t REPLICA IDENTITY USING INDEX nopk_t_id;
	CREATE PUBLICATION w2q_full FOR TABLE full_t, def_t, nopk_t WITH (publish = 'insert');
});
my @ref = ('-d', $node->connstr('postgres'), '--plugin', 'pgoutput', '--publication', 'w2q_full',
	'--slot', 'refused', '--create-slot', '--sink', "kafka://$bootstrap");
my ($code, $out) = run_bridge(@ref, '--tables', 'public.full_t');
is($code, 1, 'REPLICA IDENTITY FULL with a primary key: exit 1');
like($out, qr/table public\.full_t has REPLICA IDENTITY FULL and a primary key \(id\): pgoutput flags no primary key then.*hint: ALTER TABLE public\.full_t REPLICA IDENTITY DEFAULT, or key the jobs by one column with --key-column=COLUMN/,
	'naming the table and what to run') or diag($out);
($code, $out) = run_bridge(@ref, '--tables', 'public.def_t');
is($code, 1, 'a DEFERRABLE primary key: exit 1');
like($out, qr/the primary key of table public\.def_t \(id\) is DEFERRABLE, and pgoutput does not flag a DEFERRABLE key/,
	'naming the table') or diag($out);
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'refused'}), '0',
	'and no slot is left behind');
($code, $out) = run_bridge(@ref, '--tables', 'public.full_t,public.def_t,public.nopk_t', '--key-column', 'id',
	'--drop-slot');
unlike($out, qr/REPLICA IDENTITY FULL|DEFERRABLE/, '--key-column naming a column of the tables: accepted') or diag($out);
$node->stop;
$mock->kill_kill;
done_testing();
