# What: a primary key with INCLUDE columns (PRIMARY KEY (id) INCLUDE
# (meta): a covering index, PostgreSQL 11+).  pg_index.indkey lists the
# INCLUDE columns after the key's (indnkeyatts of them are the key); the
# backfill takes all of indkey as the key: it orders and pages by (id,
# meta) and gives the backfilled jobs the key (id, meta), where the plugin
# (relinfo.c: indnkeyatts) and publication.c give a streamed job of the
# same table the key (id).  With an INCLUDE column of a type without a
# btree ordering (json, point, xml: INCLUDE allows any type) every page
# fails: "could not identify an ordering operator for type json", and the
# backfill never runs.  Here jobs1 has INCLUDE (note text) and jobs2
# INCLUDE (meta json).
# Why: bridge/backfill_sql.c KEY_SQL: 'CROSS JOIN LATERAL
# unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)' without
# publication.c's 'WHERE k.ord <= i.indnkeyatts'.
# Expected: both tables backfilled, each row once, and a backfilled job's
# key the same as a streamed one's (the key columns alone).  Seen here: the
# Kafka message key of a backfilled job of jobs1 is ["2","n2"], a streamed
# one's 100 (so another partition of the topic, too).
# W2Q_ATTACK_CONTROL=1 makes plain primary keys (no INCLUDE): passes.
# Severity: medium (a backfill that cannot run on a covering primary key
# with a json column; otherwise jobs whose key differs from the stream's,
# which a consumer deduplicating or routing by key sees as other jobs).
# Fixed: KEY_SQL keeps "WHERE k.ord <= i.indnkeyatts": the key is the
# index's key columns alone, as relinfo.c and publication.c; pages of
# jobs2 (INCLUDE json) work, and a backfilled job of jobs1 has the message
# key of a streamed one (2 and 100, not ["2","n2"]).

use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfinclude');
my $r = start_redis();
my ($inc1, $inc2) = $ENV{W2Q_ATTACK_CONTROL} ? ('', '') : ('INCLUDE (note)', 'INCLUDE (meta)');
$node->safe_psql('postgres', qq{
	CREATE TABLE jobs1 (id int, note text, PRIMARY KEY (id) $inc1);
	INSERT INTO jobs1 SELECT g, CASE WHEN g % 2 = 0 THEN 'n' || g END FROM generate_series(1, 9) g;
	CREATE TABLE jobs2 (id int, meta json, PRIMARY KEY (id) $inc2);
	INSERT INTO jobs2 SELECT g, '{}' FROM generate_series(1, 9) g;
});
sub backfill
{
	my ($slot, $table) = @_;
	my $b = start_bridge($node, $r, '--slot', $slot, '--create-slot', '--tables', "public.$table",
		'--backfill', '--backfill-batch', '2', '--status-interval', '1');
	ok(wait_until(sub { backfill_done($r, $slot) eq '1' || !$b->{h}->pumpable }, 30), "$table: the backfill ran");
	is(backfill_done($r, $slot), '1', "$table: the backfill is done")
	  or diag(join("\n", grep { /WARNING|ERROR/ } split /\n/, bridge_log($b)));
	is(redis($r, 'XLEN', "public.$table"), '9', "$table: each row once");
	return $b;
}

# Kafka: a job's key is the message key
my $k = start_kafka_mock(1);
my $bs = $k->{bootstrap};
my $kb = start_bridge($node, undef, '--slot', 'bf_inck', '--create-slot', '--tables', 'public.jobs1',
	'--sink', "kafka://$bs", '--backfill', '--backfill-batch=2');
ok(wait_until(sub { bridge_log($kb) =~ /backfill of slot "bf_inck" done|ERROR/ || !$kb->{h}->pumpable }, 60),
	'kafka: the backfill of jobs1 ended');
$node->safe_psql('postgres', q{INSERT INTO jobs1 VALUES (100, 'streamed')});
my @m;
wait_until(sub { @m = kafka_messages($bs, 'public.jobs1'); @m >= 10 }, 30);
my ($back) = grep { $_->[0] =~ /\b2\b/ } @m;
my ($str) = grep { $_->[0] =~ /100/ } @m;
diag('message keys: backfilled ' . ($back ? $back->[0] : '?') . ', streamed ' . ($str ? $str->[0] : '?'));
(my $sb = $back ? $back->[0] : '') =~ s/\d+/N/g;
(my $ss = $str ? $str->[0] : '') =~ s/\d+/N/g;
is($sb, $ss, 'a backfilled job of jobs1 has the message key of a streamed one (the key columns alone)');
stop_bridge($kb, 'KILL') if $kb->{h}->pumpable;
stop_kafka_mock($k);
my $rb = backfill('bf_inc2', 'jobs2');
stop_bridge($rb, 'KILL') if $rb->{h}->pumpable;
stop_redis($r);
$node->stop;
done_testing();
