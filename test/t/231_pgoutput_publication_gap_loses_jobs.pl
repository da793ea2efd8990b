# The publication changes while a pgoutput slot streams (found by the
# adversarial review as test/attack/231; the attack's three cases are kept):
#  1. --tables public.job_* (a pattern) and a new job table created while
#     streaming: a FOR TABLE publication would never publish it.  Fixed: a
#     wildcard pattern needs a publication that follows new tables (FOR ALL
#     TABLES, or FOR TABLES IN SCHEMA of the pattern's schema), else the
#     bridge refuses at start (bridge/publication.c check_wildcards), and
#     --create-slot creates FOR TABLES IN SCHEMA for such patterns;
#  2. ALTER PUBLICATION ... DROP TABLE job_a, an INSERT, ADD TABLE again;
#  3. publish_via_partition_root off and on again around an INSERT.
# Fixed (2, 3): the slot watch reads the publication's rows every 250 ms
# (bridge/pubwatch.c); the bridge confirms only up to a WAL position a
# later poll proved the publication unchanged at, and exits 1 naming the
# change when it sees one: the slot is never confirmed past the gap.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('pgogap', no_allow_list => 1);
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE ROLE bridge LOGIN REPLICATION;
	GRANT CREATE ON DATABASE postgres TO bridge;
	GRANT CREATE ON SCHEMA public TO bridge;
	SET ROLE bridge;
	CREATE TABLE job_a (id int PRIMARY KEY, v text);
	CREATE TABLE job_p (id int, r text, PRIMARY KEY (id, r)) PARTITION BY LIST (r);
	CREATE TABLE part_x PARTITION OF job_p FOR VALUES IN ('x');
});
my $sink = "redis://127.0.0.1:$r->{port}";
my @base = ('-d', $node->connstr('postgres') . ' user=bridge', '--plugin', 'pgoutput',
	'--status-interval', '1');

# 1. a wildcard --tables: refused with a FOR TABLE publication
$node->safe_psql('postgres', q{SET ROLE bridge; CREATE PUBLICATION listed FOR TABLE job_a, job_p
	WITH (publish_via_partition_root = true)});
my ($code, $out) = run_bridge(@base, '--sink', $sink, '--publication', 'listed', '--slot', 'pgl',
	'--create-slot', '--tables', 'public.job_*');
is($code, 1, 'wildcard --tables, FOR TABLE publication: exit 1');
like($out, qr/--tables pattern "public\.job_\*" has a wildcard, and publication "listed" does not follow new tables.*hint: have a superuser run ALTER PUBLICATION "listed" ADD TABLES IN SCHEMA public/,
	'wildcard --tables: the pattern and the fix named');
# --create-slot makes FOR TABLES IN SCHEMA (a superuser's, in PostgreSQL 15)
($code, $out) = run_bridge(@base, '--sink', $sink, '--publication', 'schema', '--slot', 'pgs',
	'--create-slot', '--tables', 'public.job_*');
like($out, qr/could not create publication "schema": must be superuser.*run: CREATE PUBLICATION "schema" FOR TABLES IN SCHEMA "public" WITH/,
	'--create-slot for a wildcard: FOR TABLES IN SCHEMA, for a superuser');
my $bs = start_bridge($node, $r, '--plugin', 'pgoutput', '--status-interval', '1',
	'--publication', 'schema', '--slot', 'pgs', '--create-slot', '--tables', 'public.job_*',
	'--target-prefix', 's:');
ok(wait_until(sub { bridge_log($bs) =~ /streaming slot "pgs"/ }), 'a superuser\'s bridge streams')
  or diag(bridge_log($bs));
$node->safe_psql('postgres', q{
	SET ROLE bridge;
	CREATE TABLE job_b (id int PRIMARY KEY, v text);
	INSERT INTO job_b VALUES (1, 'new table');
});
ok(wait_until(sub { redis($r, 'XLEN', 's:public.job_b') eq '1' }),
	'a table created while streaming that the pattern selects: its INSERT is a job');
stop_bridge($bs);
$node->safe_psql('postgres', q{SELECT pg_drop_replication_slot('pgs')});

# 2. the table leaves the publication for a moment
my @args = (@base, '--publication', 'w2q', '--slot', 'pgo', '--tables', 'public.job_a, public.job_p');
my $b = start_bridge($node, $r, @args, '--create-slot');
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "pgo"/ }), 'streaming') or diag(bridge_log($b));
$node->safe_psql('postgres', q{INSERT INTO job_a VALUES (1, 'a1')});
my $at1 = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(wait_until(sub { $node->safe_psql('postgres', "SELECT confirmed_flush_lsn >= '$at1' FROM pg_replication_slots WHERE slot_name = 'pgo'") eq 't' }, 30),
	'an unchanged publication: the slot is confirmed (a poll or two behind)');
$node->safe_psql('postgres', q{SET ROLE bridge; ALTER PUBLICATION w2q DROP TABLE job_a});
my $mid = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
$node->safe_psql('postgres', q{
	SET ROLE bridge;
	INSERT INTO job_a VALUES (2, 'while unpublished');
	ALTER PUBLICATION w2q ADD TABLE job_a;
	INSERT INTO job_a VALUES (3, 'a3');
});
ok(wait_until(sub { !$b->{h}->pumpable }, 20), 'the bridge stops') or diag(bridge_log($b));
is($b->{h}->finish || $b->{h}->full_result(0) >> 8, 1, 'exit status 1');
like(bridge_log($b), qr/ERROR: publication "w2q" changed while streaming \(TABLE public\.job_a \(oid \d+, xmin \d+\) was dropped or changed\) at about LSN .*: pgoutput does not send rows inserted into a table while it was not published/,
	'the change and the gap named');
my $c = slot_confirmed($node, 'pgo');
is($node->safe_psql('postgres', "SELECT '$c'::pg_lsn <= '$mid'"), 't',
	"the slot is not confirmed past the change (confirmed $c, change before $mid)");

# 3. the publication stops publishing via the root for a moment
$b = start_bridge($node, $r, @args);
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "pgo"/ }), 'streaming again');
$node->safe_psql('postgres', q{INSERT INTO job_p VALUES (1, 'x')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.job_p') eq '1' }), 'job 1 of job_p arrives');
sleep 2;
$node->safe_psql('postgres', q{SET ROLE bridge; ALTER PUBLICATION w2q SET (publish_via_partition_root = false)});
$mid = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
$node->safe_psql('postgres', q{
	SET ROLE bridge;
	INSERT INTO job_p VALUES (2, 'x');
	ALTER PUBLICATION w2q SET (publish_via_partition_root = true);
	INSERT INTO job_p VALUES (3, 'x');
});
ok(wait_until(sub { !$b->{h}->pumpable }, 20), 'the bridge stops') or diag(bridge_log($b));
like(bridge_log($b), qr/ERROR: publication "w2q" changed while streaming \(publication w2q \(oid \d+, xmin \d+\) was dropped or changed\)/,
	'the options change named');
$c = slot_confirmed($node, 'pgo');
is($node->safe_psql('postgres', "SELECT '$c'::pg_lsn <= '$mid'"), 't',
	"the slot is not confirmed past the change (confirmed $c, change before $mid)");

# a table --tables does not select, added: no change that matters
$b = start_bridge($node, $r, @args);
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "pgo"/ }), 'streaming again');
sleep 2;
$node->safe_psql('postgres', q{SET ROLE bridge; CREATE TABLE other (id int PRIMARY KEY);
	ALTER PUBLICATION w2q ADD TABLE other; INSERT INTO job_a VALUES (4, 'a4')});
my $at4 = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(wait_until(sub { $node->safe_psql('postgres', "SELECT confirmed_flush_lsn >= '$at4' FROM pg_replication_slots WHERE slot_name = 'pgo'") eq 't' }, 30),
	'a table --tables leaves out, added to the publication: streaming goes on')
  or diag(bridge_log($b));
ok($b->{h}->pumpable, 'the bridge runs');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
