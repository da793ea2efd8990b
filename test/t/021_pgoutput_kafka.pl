# The same WAL through the plugin and through pgoutput into Kafka (the mock
# cluster, read back with kcat): keys (the primary key, composite keys as
# JSON arrays, --key-column, messages), values typed as the plugin types
# them (numbers, NaN, bool, json, jsonb, a domain over int, arrays, bytea),
# headers and partitions are identical; where pgoutput cannot flag the
# plugin's key (docs/managed.md): a composite key listed in another order
# than the table's is keyed in table order by pgoutput (rpk), a DEFERRABLE
# one is refused at start (dpk: test/t/233).
use strict;
use warnings;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $kafka = start_kafka_mock();
my ($mock, $bootstrap) = ($kafka->{h}, $kafka->{bootstrap});
sub mock_cmd { return kafka_mock_cmd($kafka, @_) }
my @topics = ('public.jobs', 'public.rpk', 'public.dpk', 'notices', 'wal2queue');
for my $p ('plug.', 'pgo.')
{
	mock_cmd("create $p$_ 4") for @topics;
}

sub consume
{
	my ($topic) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'kcat', '-b', $bootstrap, '-C', '-t', $topic, '-o', 'beginning', '-e', '-J', '-q' ],
		'>', \$out, '2>', \$err, IPC::Run::timeout(60));
	return [ map { decode_json($_) } grep { /^\{/ } split /\n/, $out ];
}

# what a consumer sees of a message, the source-specific headers left out
sub seen
{
	my ($m) = @_;
	my %h = @{ $m->{headers} // [] };
	return {
		key => $m->{key}, partition => $m->{partition},
		value => ($m->{payload} =~ /^[\[{]/ ? decode_json($m->{payload}) : $m->{payload}),
		map { ($_ => $h{$_}) } qw(lsn seq xid table commit_time) };
}

my $node = new_node('pgokafka');
restrict_messages($node);
$node->safe_psql('postgres', q{
	CREATE DOMAIN posint AS int CHECK (VALUE > 0);
	CREATE TABLE jobs (id int PRIMARY KEY, queue text, n numeric, f float8, r real, b bool,
		j json, jb jsonb, d posint, arr int[], by bytea, t text, i8 bigint);
	CREATE TABLE rpk (x int, y text, z int, PRIMARY KEY (z, x));
	CREATE TABLE dpk (a int, b int, c text, PRIMARY KEY (b, a) DEFERRABLE);
	CREATE PUBLICATION w2q FOR TABLE jobs, rpk, dpk WITH (publish = 'insert', publish_via_partition_root = true);
	SELECT pg_create_logical_replication_slot('plug', 'wal2queue');
	SELECT pg_create_logical_replication_slot('pgo', 'pgoutput');
});
$node->safe_psql('postgres', q{
	BEGIN;
	INSERT INTO jobs VALUES (1, 'emails', 1.50, 'NaN', 2.5, true, '{"a": [1, "x"]}', '{"b": null}', 7,
		'{1,2}', '\x00ff', 'say "hi"\', 9007199254740993);
	INSERT INTO jobs VALUES (2, NULL, -0.5, '-Infinity', NULL, false, '[]', '[1]', NULL, NULL, NULL, NULL, -1);
	SELECT pg_logical_emit_message(true, 'wal2queue:notices#k:9#x', 'hello');
	SELECT pg_logical_emit_message(true, 'wal2queue', 'bare');
	INSERT INTO rpk VALUES (1, 'a,b', 3), (2, 'q"\', 4);
	INSERT INTO dpk VALUES (5, 6, 'deferrable');
	COMMIT;
	INSERT INTO jobs (id, queue) SELECT g, 'bulk' FROM generate_series(100, 139) g;
});
my $end = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');

# the slots are created here, before the rows, so both modes read the same WAL;
# a sink that keeps a source record accepts them with --accept-new-source
my @common = ('--status-interval', '1', '--sink', "kafka://$bootstrap", '--accept-new-source');
my @ptables = ('--tables', 'public.jobs,public.rpk,public.dpk');
my @gtables = ('--tables', 'public.jobs,public.rpk');
my $pb = start_bridge($node, undef, @common, @ptables, '--slot', 'plug', '--target-prefix', 'plug.');
my $gb = start_bridge($node, undef, @common, @gtables, '--slot', 'pgo', '--target-prefix', 'pgo.',
	'--plugin', 'pgoutput', '--publication', 'w2q');
for my $slot ('plug', 'pgo')
{
	ok(wait_until(sub { $node->safe_psql('postgres',
		"SELECT confirmed_flush_lsn >= '$end' FROM pg_replication_slots WHERE slot_name = '$slot'") eq 't' }, 60),
		"$slot: every job delivered and confirmed");
}
for my $t (grep { $_ ne 'public.dpk' } @topics)
{
	my @p = map { seen($_) } @{ consume("plug.$t") };
	my @g = map { seen($_) } @{ consume("pgo.$t") };
	# rpk's key (z, x) is flagged in table order (x, z): key and partition differ
	if ($t eq 'public.rpk')
	{
		delete @{$_}{qw(key partition)} for @p, @g;
	}
	@p = sort { $a->{lsn} cmp $b->{lsn} || $a->{seq} <=> $b->{seq} } @p;
	@g = sort { $a->{lsn} cmp $b->{lsn} || $a->{seq} <=> $b->{seq} } @g;
	ok(@p > 0, "$t: the plugin mode delivered " . scalar(@p));
	is_deeply(\@g, \@p, "$t: pgoutput gives the same keys, values, partitions and headers");
}
my %rpk = map { $_->{value}{x} => $_ } map { seen($_) } @{ consume('pgo.public.rpk') };
my %prpk = map { $_->{value}{x} => $_ } map { seen($_) } @{ consume('plug.public.rpk') };
is($prpk{1}{key}, '["3","1"]', 'plugin: a composite key is a JSON array in index order');
is($rpk{1}{key}, '["1","3"]', 'pgoutput: in table order, as pgoutput flags it');
is($rpk{2}{key}, '["2","4"]', 'composite key: second row');
is(seen(consume('plug.public.dpk')->[0])->{key}, '["6","5"]', 'plugin: a DEFERRABLE primary key is the key');
my ($j1) = grep { $_->{key} eq '1' } map { seen($_) } @{ consume('pgo.public.jobs') };
is_deeply($j1->{value}, { id => 1, queue => 'emails', n => 1.5, f => 'NaN', r => 2.5, b => JSON::PP::true,
	j => { a => [ 1, 'x' ] }, jb => { b => undef }, d => 7, arr => '{1,2}', by => '\x00ff',
	t => 'say "hi"\\', i8 => 9007199254740993 }, 'value: typed as the plugin types it (domain over int a number)');
is(seen(consume('pgo.notices')->[0])->{key}, 'k:9#x', 'message key after the first #');

stop_bridge($pb);
stop_bridge($gb);

# --key-column and --route-column in both modes
$node->safe_psql('postgres', q{
	SELECT pg_create_logical_replication_slot('plug2', 'wal2queue');
	SELECT pg_create_logical_replication_slot('pgo2', 'pgoutput');
	INSERT INTO rpk VALUES (7, 'by y', 8);
	INSERT INTO jobs (id, queue) VALUES (500, 'routed'), (501, NULL);
});
$end = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
for my $p ('plug2', 'pgo2')
{
	mock_cmd("create $p.$_ 4") for ('public.rpk', 'public.jobs', 'routed');
}
my @opts = ('--key-column', 'y', '--route-column', 'queue');
$pb = start_bridge($node, undef, @common, @ptables, '--slot', 'plug2', '--target-prefix', 'plug2.', @opts);
$gb = start_bridge($node, undef, @common, @gtables, '--slot', 'pgo2', '--target-prefix', 'pgo2.', @opts,
	'--plugin', 'pgoutput', '--publication', 'w2q');
ok(wait_until(sub { $node->safe_psql('postgres', "SELECT bool_and(confirmed_flush_lsn >= '$end') "
	  . "FROM pg_replication_slots WHERE slot_name IN ('plug2', 'pgo2')") eq 't' }, 60),
	'--key-column, --route-column: both modes delivered');
is(seen(consume('pgo2.public.rpk')->[0])->{key}, 'by y', '--key-column: the column text');
is(seen(consume('pgo2.routed')->[0])->{value}{id}, 500, '--route-column: the value is the target');
is(seen(consume('pgo2.public.jobs')->[0])->{value}{id}, 501, '--route-column NULL: the table is the target');
for my $t ('public.rpk', 'routed', 'public.jobs')
{
	my @p = map { seen($_) } @{ consume("plug2.$t") };
	is_deeply([ map { seen($_) } @{ consume("pgo2.$t") } ], \@p,
		"$t: the same messages in both modes (" . scalar(@p) . ")");
}
stop_bridge($pb);
stop_bridge($gb);

# kill -9 of the pgoutput bridge while 100,000 jobs stream: every job once
mock_cmd('create pgo3.public.jobs 4');
$node->safe_psql('postgres', q{SELECT pg_create_logical_replication_slot('pgo3', 'pgoutput')});
$node->safe_psql('postgres', q{
	DO $$ BEGIN
	  FOR t IN 0..1999 LOOP
	    INSERT INTO jobs (id, queue) SELECT g, 'bulk' FROM generate_series(10000 + t * 50, 10049 + t * 50) g;
	    COMMIT;
	  END LOOP;
	END $$;
});
my @pgo3 = (@common, @gtables, '--slot', 'pgo3', '--target-prefix', 'pgo3.', '--plugin', 'pgoutput', '--publication', 'w2q');
$end = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
my $confirmed_sql = "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'pgo3'";
my $mid = 0;
$gb = start_bridge($node, undef, @pgo3);
for my $round (1 .. 3)
{
	my $before = $node->safe_psql('postgres', $confirmed_sql);
	wait_until(sub { $node->safe_psql('postgres', "SELECT ($confirmed_sql) > '$before'") eq 't' }, 30);
	$gb->{h}->signal('KILL');
	$gb->{h}->finish;
	$mid++ if $node->safe_psql('postgres', "SELECT ($confirmed_sql) < '$end'") eq 't';
	$gb = start_bridge($node, undef, @pgo3);
}
ok($mid > 0, "pgoutput: $mid of 3 kill -9 came mid-stream");
my $all;
ok(wait_until(sub { $node->safe_psql('postgres', "SELECT ($confirmed_sql) >= '$end'") eq 't' }, 120),
	'pgoutput, after three kill -9: every job delivered and confirmed');
$all = consume('pgo3.public.jobs');
my %seen;
$seen{ $_->{key} }++ for @$all;
is(scalar(@$all), 100000, 'pgoutput: exactly as many messages as jobs');
is(scalar(keys %seen), 100000, 'pgoutput: every job exactly once');
is(stop_bridge($gb) >> 8, 0, 'SIGTERM: exit 0');
$node->stop;
$mock->kill_kill;
done_testing();
