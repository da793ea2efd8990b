# --plugin=pgoutput on a server that refuses custom output plugins (the
# default output_plugin_libraries, as on a managed service), with a bridge
# role that is not a superuser (LOGIN REPLICATION, owner of the job tables):
# the refusal names both ways forward, the publication is created or its
# gaps named, rows of many types, messages, partitions via the root, a
# schema change mid-stream, a table added to the publication while
# streaming, kill -9 and a PostgreSQL restart with every job exactly once;
# then, with wal2queue allow-listed, the plugin mode on the same WAL gives
# the same Redis fields.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('pgo', no_allow_list => 1);
restrict_messages($node);
my $r = start_redis();
my $sink = "redis://127.0.0.1:$r->{port}";
$node->safe_psql('postgres', q{
	CREATE ROLE bridge LOGIN REPLICATION;
	GRANT CREATE ON DATABASE postgres TO bridge;
	GRANT CREATE ON SCHEMA public TO bridge;
	SET ROLE bridge;
	CREATE TABLE jobs (id int PRIMARY KEY, queue text, n numeric, f float8, b bool, j jsonb,
		t timestamptz, arr int[], nul text, i8 bigint, by bytea);
	CREATE TABLE comp (a int, b text, payload text, PRIMARY KEY (a, b));
	CREATE TABLE parted (id int, region text, v text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
	CREATE TABLE parted_eu PARTITION OF parted FOR VALUES IN ('eu');
	CREATE TABLE parted_us PARTITION OF parted FOR VALUES IN ('us');
	CREATE TABLE other (id int PRIMARY KEY);
	CREATE TABLE lonely (id int PRIMARY KEY);
});
is($node->safe_psql('postgres', "SELECT rolsuper::text || rolreplication::text FROM pg_roles WHERE rolname = 'bridge'"),
	'falsetrue', 'the bridge role is REPLICATION, not superuser');
my $conn = $node->connstr('postgres') . ' user=bridge';
my @tables = ('--tables', 'public.jobs, public.comp, public.parted, public.later');

# the server refuses wal2queue: the error names both ways forward
my ($code, $out) = run_bridge('-d', $conn, '--slot', 'w2q', '--create-slot', '--sink', $sink);
is($code, 1, 'plugin refused: exit 1');
like($out, qr/may not be used as an output plugin/, 'plugin refused: the server says why');
like($out, qr/add wal2queue to output_plugin_libraries.*--plugin=pgoutput --publication=NAME/,
	'plugin refused: hint names allow-listing and --plugin=pgoutput');

# usage errors
($code, $out) = run_bridge('--plugin', 'wal2json');
is($code, 2, '--plugin=wal2json: exit 2');
like($out, qr/invalid value "wal2json" for --plugin \(use wal2queue, or pgoutput/, '--plugin: hint');
($code, $out) = run_bridge('--plugin', 'pgoutput');
is($code, 2, 'pgoutput without --publication: exit 2');
like($out, qr/--plugin=pgoutput needs --publication=NAME/, 'pgoutput without --publication: named');
($code, $out) = run_bridge('--plugin', 'pgoutput', '--publication', 'p', '--max-job-bytes', '1000000');
is($code, 2, 'pgoutput with --max-job-bytes: exit 2');
like($out, qr/--max-job-bytes is an option of the wal2queue plugin/, 'pgoutput with --max-job-bytes: why');
($code, $out) = run_bridge('--publication', 'p');
is($code, 2, '--publication without pgoutput: exit 2');
($code, $out) = run_bridge('--plugin', 'pgoutput', '--publication', 'p', '--tables', 'jobs');
is($code, 2, 'pgoutput, unqualified --tables: exit 2');
like($out, qr/invalid pattern "jobs" in --tables: not schema-qualified/, 'bad pattern named');

# publication missing, lacking a table, publishing nothing, not creatable
my @pgo = ('-d', $conn, '--sink', $sink, '--plugin', 'pgoutput');
($code, $out) = run_bridge(@pgo, '--publication', 'w2q', '--slot', 'pgo', @tables);
is($code, 1, 'missing publication: exit 1');
like($out, qr/publication "w2q" does not exist; hint: create it with --create-slot, or run: CREATE PUBLICATION "w2q" FOR TABLE "public"."comp", "public"."jobs", "public"."parted" WITH \(publish = 'insert', publish_via_partition_root = true\)/,
	'missing publication: what to run');
$node->safe_psql('postgres', q{SET ROLE bridge; CREATE PUBLICATION half FOR TABLE jobs; CREATE PUBLICATION empty});
($code, $out) = run_bridge(@pgo, '--publication', 'half', '--slot', 'pgo', '--create-slot', @tables);
is($code, 1, 'publication lacking tables: exit 1');
like($out, qr/publication "half" does not publish 2 tables that --tables selects: "public"."comp", "public"."parted"; hint: ALTER PUBLICATION "half" ADD TABLE "public"."comp", "public"."parted"/,
	'publication lacking tables: named, with the fix');
($code, $out) = run_bridge(@pgo, '--publication', 'empty', '--slot', 'pgo', '--create-slot');
like($out, qr/publication "empty" publishes no table/, 'empty publication refused');
($code, $out) = run_bridge(@pgo, '--publication', 'all', '--slot', 'pgo', '--create-slot');
is($code, 1, 'FOR ALL TABLES by a non-superuser: exit 1');
like($out, qr/could not create publication "all": must be superuser.*run: CREATE PUBLICATION "all" FOR ALL TABLES/,
	'FOR ALL TABLES by a non-superuser: what to have a superuser run');
is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_replication_slots'), '0',
	'no slot was created by a refused start');
# a slot older than its publication cannot be decoded: refuse to create one for it
$node->safe_psql('postgres', q{SELECT pg_create_logical_replication_slot('early', 'pgoutput')});
($code, $out) = run_bridge(@pgo, '--publication', 'late', '--slot', 'early', '--create-slot', @tables);
is($code, 1, 'publication missing for an existing slot: exit 1');
like($out, qr/publication "late" does not exist and replication slot "early" does: pgoutput cannot decode the slot's transactions from before the publication; hint: run CREATE PUBLICATION "late" .*then drop the slot and create it again/,
	'publication missing for an existing slot: why, and what to do');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_publication WHERE pubname = 'late'}), '0',
	'no publication created for an existing slot');
$node->safe_psql('postgres', q{SELECT pg_drop_replication_slot('early')});

# --create-slot creates the publication, then the slot
my $b = start_bridge($node, $r, @pgo, '--publication', 'w2q', '--slot', 'pgo', '--create-slot',
	@tables, '--target-prefix', 'pgo:', '--status-interval', '1');
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "pgo"/ }), 'streaming with pgoutput');
is($node->safe_psql('postgres', q{SELECT pubinsert, pubupdate, pubviaroot, pubowner::regrole FROM pg_publication WHERE pubname = 'w2q'}),
	't|f|t|bridge', 'the publication: inserts only, via the root, owned by the bridge role');
is($node->safe_psql('postgres', q{SELECT plugin FROM pg_replication_slots WHERE slot_name = 'pgo'}),
	'pgoutput', 'the slot uses pgoutput');

$node->safe_psql('postgres', q{
	BEGIN;
	INSERT INTO jobs VALUES (1, 'emails', 1.50, 'NaN', true, '{"a": [1, "x"]}',
		'2024-01-02 03:04:05.123456+00', '{1,2}', NULL, 9007199254740993, '\x0102');
	SELECT pg_logical_emit_message(true, 'wal2queue:tgt#k1', 'payload one');
	SELECT pg_logical_emit_message(true, 'elsewhere', 'ignored');
	INSERT INTO comp VALUES (7, 'x,y', 'p');
	INSERT INTO parted VALUES (1, 'eu', 'a'), (2, 'us', 'b');
	INSERT INTO other VALUES (1);
	UPDATE jobs SET queue = 'sms' WHERE id = 1;
	COMMIT;
	SELECT pg_logical_emit_message(false, 'wal2queue:tgt', 'not transactional');
});
ok(wait_until(sub { redis($r, 'XLEN', 'pgo:public.parted') eq '2' }), 'rows and a message arrive');
my $e = stream_entries($r, 'pgo:public.jobs');
is(scalar(@$e), 1, 'one job row (the UPDATE is no job)');
my %f = %{ $e->[0][1] };
is_deeply([ @f{qw(id queue n f b j arr i8 by)} ],
	[ '1', 'emails', '1.50', 'NaN', 't', '{"a": [1, "x"]}', '{1,2}', '9007199254740993', '\x0102' ],
	'fields: the columns as text');
ok(!exists $f{nul}, 'a NULL column is left out');
like($f{t}, qr/^2024-01-0\d \d\d:04:05\.123456/, 'timestamptz as the server prints it');
my $m = stream_entries($r, 'pgo:tgt');
is(scalar(@$m), 1, 'only the transactional wal2queue message is a job');
is_deeply([ @{ $m->[0][1] }{qw(payload key)} ], [ 'payload one', 'k1' ], 'message: payload and key');
is(stream_entries($r, 'pgo:public.comp')->[0][1]{b}, 'x,y', 'composite-key table');
is_deeply([ sort map { $_->[1]{region} } @{ stream_entries($r, 'pgo:public.parted') } ], [ 'eu', 'us' ],
	'partitions arrive under the root');
is(redis($r, 'EXISTS', 'pgo:public.other', 'pgo:public.parted_eu', 'pgo:elsewhere'), '0',
	'nothing for unpublished tables, partitions or other prefixes');
# a documented difference (docs/managed.md): pgoutput sends the insert half
# of a cross-partition UPDATE as an insert, so it is a job (the plugin's is not)
$node->safe_psql('postgres', q{UPDATE parted SET region = 'us' WHERE id = 1});
ok(wait_until(sub { redis($r, 'XLEN', 'pgo:public.parted') eq '3' }),
	'pgoutput: a cross-partition UPDATE arrives as a job (documented difference)');

# a schema change mid-transaction and mid-stream: pgoutput sends the Relation again
$node->safe_psql('postgres', q{
	BEGIN;
	INSERT INTO jobs (id, queue) VALUES (2, 'before');
	ALTER TABLE jobs ADD COLUMN extra text DEFAULT 'e';
	INSERT INTO jobs (id, queue) VALUES (3, 'after');
	COMMIT;
	INSERT INTO jobs (id, queue, extra) VALUES (4, 'later', 'x');
});
ok(wait_until(sub { redis($r, 'XLEN', 'pgo:public.jobs') eq '4' }), 'rows around an ALTER TABLE arrive');
$e = stream_entries($r, 'pgo:public.jobs');
is_deeply([ map { $_->[1]{extra} // 'none' } @$e[1 .. 3] ], [ 'none', 'e', 'x' ],
	'the rows after ADD COLUMN carry it');

# a table added to the publication while streaming, in the transaction that
# creates it (added later, rows inserted before would be lost: the bridge
# stops, test/t/231)
$node->safe_psql('postgres', q{
	SET ROLE bridge;
	BEGIN;
	CREATE TABLE later (id int PRIMARY KEY, v text);
	ALTER PUBLICATION w2q ADD TABLE later, other;
	COMMIT;
});
$node->safe_psql('postgres', q{INSERT INTO later VALUES (1, 'new'); INSERT INTO other VALUES (2)});
ok(wait_until(sub { redis($r, 'XLEN', 'pgo:public.later') eq '1' }),
	'a table added to the publication while streaming is streamed');
is(redis($r, 'EXISTS', 'pgo:public.other'), '0', 'a published table --tables leaves out is not');
ok(wait_until(sub { slot_confirmed($node, 'pgo') ge '0' && $node->safe_psql('postgres',
	"SELECT confirmed_flush_lsn >= pg_current_wal_lsn() FROM pg_replication_slots WHERE slot_name = 'pgo'") eq 't' }),
	'the slot is confirmed to the end, through transactions without jobs');

# kill -9 and a PostgreSQL restart: every job exactly once
stop_bridge($b);
$node->safe_psql('postgres', q{
	DO $$ BEGIN
	  FOR t IN 0..1999 LOOP
	    INSERT INTO jobs (id, queue) SELECT g, 'bulk' FROM generate_series(1000 + t * 100, 1099 + t * 100) g;
	    COMMIT;
	  END LOOP;
	END $$;
});
my $total = 200000 + 4;
$b = start_bridge($node, $r, @pgo, '--publication', 'w2q', '--slot', 'pgo', @tables,
	'--target-prefix', 'pgo:', '--status-interval', '1');
wait_until(sub { redis($r, 'XLEN', 'pgo:public.jobs') >= 30000 }, 60);
$b->{h}->signal('KILL');
$b->{h}->finish;
my $n = redis($r, 'XLEN', 'pgo:public.jobs');
ok($n < $total, "killed mid-stream at $n jobs");
$b = start_bridge($node, $r, @pgo, '--publication', 'w2q', '--slot', 'pgo', @tables,
	'--target-prefix', 'pgo:', '--status-interval', '1');
wait_until(sub { redis($r, 'XLEN', 'pgo:public.jobs') >= $n + 30000 }, 60);
my $confirmed = slot_confirmed($node, 'pgo');
$node->restart;
ok(wait_until(sub { redis($r, 'XLEN', 'pgo:public.jobs') eq "$total" }, 120),
	'all jobs arrive after kill -9 and a PostgreSQL restart');
sleep 1;
$e = stream_entries($r, 'pgo:public.jobs');
my %seen;
$seen{ $_->[1]{id} }++ for @$e;
is(scalar(@$e), $total, 'exactly as many entries as jobs');
is(scalar(keys %seen), $total, 'every job exactly once');
# PostgreSQL 15 keeps confirmed_flush_lsn in memory only (until the slot is
# saved for another reason): after the restart the slot replays from further
# back, and the sink must recognise all of it as delivered
my ($from) = bridge_log($b) =~ /streaming slot "pgo".*streaming slot "pgo" from (\S+)/s;
ok(defined $from, 'the bridge reconnected after the restart');
is($node->safe_psql('postgres', "SELECT '$from'::pg_lsn <= '$confirmed'::pg_lsn"), 't',
	"the restarted slot replayed from $from (confirmed before: $confirmed)");

# the same WAL through the plugin: allow-list it, and compare the fields
$node->append_conf('postgresql.conf', "output_plugin_libraries = 'pgoutput, test_decoding, wal2queue'\n");
$node->reload;
my $pb = start_bridge($node, $r, '-d', $conn, '--slot', 'plug', '--create-slot', @tables,
	'--target-prefix', 'plug:', '--status-interval', '1');
ok(wait_until(sub { bridge_log($pb) =~ /streaming slot "plug"/ }), 'plugin mode streams once allow-listed');
$node->safe_psql('postgres', q{
	BEGIN;
	INSERT INTO jobs VALUES (1000001, 'cmp', -0.5, '-Infinity', false, '[1, {"b": null}]',
		'1999-12-31 23:59:59+00', '{{1,2},{3,4}}', 'x', -1, '\x00ff', 'é "quoted"');
	INSERT INTO jobs (id, queue) VALUES (1000002, NULL);
	SELECT pg_logical_emit_message(true, 'wal2queue:cmp#a:b#c', 'π payload');
	SELECT pg_logical_emit_message(true, 'wal2queue', 'bare');
	INSERT INTO comp VALUES (1000001, 'k', NULL);
	INSERT INTO parted VALUES (1000001, 'us', 'p');
	INSERT INTO later VALUES (1000001, NULL);
	COMMIT;
});
my @cmp = ('public.jobs', 'cmp', 'wal2queue', 'public.comp', 'public.parted', 'public.later');
ok(wait_until(sub { redis($r, 'EXISTS', map { ("pgo:$_", "plug:$_") } @cmp) == 2 * @cmp
	  && redis($r, 'XLEN', 'plug:public.jobs') eq '2' }),
	'both modes delivered the comparison transaction');
sleep 1;
for my $s (@cmp)
{
	my @p = map { $_->[1] } grep { $s !~ /^public/ || ($_->[1]{id} // $_->[1]{a}) >= 1000001 }
	  @{ stream_entries($r, "pgo:$s") };
	my @q = map { $_->[1] } @{ stream_entries($r, "plug:$s") };
	# the message streams of pgo: also hold earlier messages
	@p = @p[-@q .. -1] if @p > @q && $s !~ /^public/;
	is_deeply(\@p, \@q, "$s: pgoutput mode gives the plugin mode's fields");
}
stop_bridge($pb);
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
