# Fixed: a row's key in --plugin=pgoutput mode is what its Relation message
# flags (bridge/pgoutput.c read_columns: the primary key under REPLICA
# IDENTITY DEFAULT, in table order; no key under USING INDEX, FULL,
# NOTHING), never the catalog read at connect; a table whose primary key
# pgoutput would not flag is refused at start (bridge/publication.c
# check_keys; test/t/233).  (An earlier fix read the keys at connect,
# read_keys()/catalog_key(): replays then depended on the session, 233.)
# Uses the INSTALLED plugin for the comparison.
#
# The attack: "keys: the primary key ... or --key-column. A
# consumer cannot tell the modes apart by the jobs" (docs/managed.md), and
# the key decides the Kafka partition, so a different key reorders jobs.
# In --plugin=pgoutput mode the bridge reads primary keys from the catalog
# only when it connects (bridge/publication.c read_keys, PRIMARY_KEYS) and
# otherwise falls back to the Relation message's replica identity flags
# (bridge/rowjob.c select_columns):
#  1. a table WITHOUT a primary key but REPLICA IDENTITY USING INDEX: the
#     plugin's key is null ("null without one"); pgoutput mode keys the row
#     by the unique index's column (read_keys records no entry for a table
#     without a primary key, so catalog_key() falls through to the flags);
#  2. a primary-key column RENAMED while the bridge streams: catalog_key()
#     still looks for the old name, finds no column and returns true with no
#     key column at all: the job has no key (the plugin keys it by the PK);
#  3. a primary key DROPPED while the bridge streams: pgoutput mode keeps
#     keying by the stale catalog key (the plugin: null).
# Expected: the same Kafka key (hence partition) in both modes.
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

sub consume
{
	my ($topic) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'kcat', '-b', $bootstrap, '-C', '-t', $topic, '-o', 'beginning', '-e', '-J', '-q' ],
		'>', \$out, '2>', \$err, IPC::Run::timeout(60));
	return { map { my $m = decode_json($_); (decode_json($m->{payload})->{id} => $m->{key}) }
		  grep { /^\{/ } split /\n/, $out };
}

my $node = new_node('pgokeys');
$node->safe_psql('postgres', q{
	CREATE ROLE bridge LOGIN REPLICATION;
	CREATE TABLE nopk (id int NOT NULL, u int NOT NULL, v text);
	CREATE UNIQUE INDEX nopk_u ON nopk (u);
	ALTER TABLE nopk REPLICA IDENTITY USING INDEX nopk_u;
	CREATE TABLE ren (id int PRIMARY KEY, v text);
	CREATE TABLE dro (id int CONSTRAINT dro_pk PRIMARY KEY, v text);
	ALTER TABLE nopk OWNER TO bridge; ALTER TABLE ren OWNER TO bridge; ALTER TABLE dro OWNER TO bridge;
	CREATE PUBLICATION w2q FOR TABLE nopk, ren, dro WITH (publish = 'insert', publish_via_partition_root = true);
	ALTER PUBLICATION w2q OWNER TO bridge;
	SELECT pg_create_logical_replication_slot('plug', 'wal2queue');
	SELECT pg_create_logical_replication_slot('pgo', 'pgoutput');
});
my @common = ('--status-interval', '1', '--sink', "kafka://$bootstrap", '--accept-new-source',
	'--tables', 'public.nopk,public.ren,public.dro');
my $pb = start_bridge($node, undef, @common, '--slot', 'plug', '--target-prefix', 'plug.');
my $gb = start_bridge($node, undef, @common, '-d', $node->connstr('postgres') . ' user=bridge',
	'--slot', 'pgo', '--target-prefix', 'pgo.', '--plugin', 'pgoutput', '--publication', 'w2q');
for my $b ($pb, $gb)
{
	ok(wait_until(sub { bridge_log($b) =~ /streaming slot/ }), 'bridge streams') or diag(bridge_log($b));
}
# mid-stream: the pgoutput bridge has read the catalog keys already
$node->safe_psql('postgres', q{
	INSERT INTO nopk VALUES (1, 10, 'a');
	INSERT INTO ren VALUES (1, 'before');
	ALTER TABLE ren RENAME COLUMN id TO job_id;
	INSERT INTO ren VALUES (2, 'after rename');
	ALTER TABLE dro DROP CONSTRAINT dro_pk;
	INSERT INTO dro VALUES (1, 'after drop');
});
my $end = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
for my $slot ('plug', 'pgo')
{
	ok(wait_until(sub { $node->safe_psql('postgres',
		"SELECT confirmed_flush_lsn >= '$end' FROM pg_replication_slots WHERE slot_name = '$slot'") eq 't' }, 60),
		"$slot: delivered and confirmed") or diag(bridge_log($slot eq 'plug' ? $pb : $gb));
}
my $pn = consume('plug.public.nopk');
my $gn = consume('pgo.public.nopk');
is($gn->{1}, $pn->{1}, 'no primary key, replica identity USING INDEX: same key as the plugin (null)');
# after the rename the id column is job_id: read it from the payload
my ($out, $err) = ('', '');
my %k;
for my $p ('plug', 'pgo')
{
	IPC::Run::run([ 'kcat', '-b', $bootstrap, '-C', '-t', "$p.public.ren", '-o', 'beginning', '-e', '-J', '-q' ],
		'>', \$out, '2>', \$err, IPC::Run::timeout(60));
	for (grep { /^\{/ } split /\n/, $out)
	{
		my $m = decode_json($_);
		my $v = decode_json($m->{payload});
		$k{$p}{ $v->{v} } = $m->{key};
	}
}
is($k{plug}{'after rename'}, '2', 'plugin: the renamed key column still keys the row');
is($k{pgo}{'after rename'}, $k{plug}{'after rename'}, 'PK column renamed mid-stream: same key as the plugin');
my $pd = consume('plug.public.dro');
my $gd = consume('pgo.public.dro');
is($gd->{1}, $pd->{1}, 'primary key dropped mid-stream: same key as the plugin (null)');
stop_bridge($pb);
stop_bridge($gb);
$node->stop;
$mock->kill_kill;
done_testing();
