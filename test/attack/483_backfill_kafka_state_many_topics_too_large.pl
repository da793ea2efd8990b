# What: a Kafka backfill (no transactions) with --route-column over a
# column of many distinct values (one topic per tenant, per customer, ...).
# Every state record now names the topics of its page (next_topics, 435's
# fix), and a start record names the page's topics and the recorded ones:
# one name per distinct route of the page, unbounded by anything.  A page
# whose topic names add up to more than message.max.bytes makes a start
# record Kafka cannot take: the bridge stops with "job too large for Kafka:
# message to topic km.wal2queue-backfill.bf_km key bf_km ... is 114847
# bytes" -- the state record, no job of the user's -- without a word about
# the page's topics or --backfill-batch, and every restart stops there
# (the stream never starts; a slot kept holds WAL).  Nothing is sent first
# (the start record precedes the rows), so no loss.  Here message.max.bytes
# is 100000 (-X) and a page of 600 rows routes to 600 topics of ~190 bytes
# (~115 kB of names); at the defaults (1 MB, pages of 10000 rows) ~5000
# distinct routes of ~200 bytes in a page do it.
# Why: bridge/kafka_backfill.c send_state(): 'char *json =
# kafka_bf_topics_format(topics); ... kafka_backfill_state_format(...,
# json)' puts every topic name of the page into the one state message;
# neither kafka_bf_topics_of_page() nor the page's bounds (--backfill-batch,
# --backfill-page-bytes: the rows' bytes) limit it.
# Expected: the backfill completes, the 600 rows once each (a page cut
# where its topics' names would not fit a state record); at least a
# refusal that names the cause (the page routes to too many topics for
# one state record) and the remedy (a smaller --backfill-batch).
# W2Q_ATTACK_CONTROL=1 routes every row to 3 topics: passes.
# Severity: low-medium (a backfill that cannot finish with the defaults
# under an ordinary routing choice, with a misleading error; no data lost).
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $k = start_kafka_mock(1);
my $bs = $k->{bootstrap};
my $node = new_node('bfkmany');
my $mod = $ENV{W2Q_ATTACK_CONTROL} ? 3 : 100000;
$node->safe_psql('postgres', qq{
	CREATE TABLE jobs (id bigint PRIMARY KEY, queue text NOT NULL);
	INSERT INTO jobs SELECT g, 't' || (g % $mod) || '-' || repeat('x', 180) FROM generate_series(1, 600) g;
});
my $b = start_bridge($node, undef, '--slot', 'bf_km', '--create-slot', '--tables', 'public.jobs',
	'--sink', "kafka://$bs", '--route-column', 'queue', '--target-prefix', 'km.',
	'-X', 'message.max.bytes=100000', '--backfill', '--backfill-batch=600');
ok(wait_until(sub { bridge_log($b) =~ /backfill of slot "bf_km" done|ERROR/ || !$b->{h}->pumpable }, 120),
	'the backfill ended or stopped')
  or diag(join("\n", grep { /WARNING|ERROR/ } split /\n/, bridge_log($b)));
ok(bridge_log($b) =~ /backfill of slot "bf_km" done: 600 rows/ || bridge_log($b) =~ /ERROR:.*backfill-batch/,
	'the backfill is done (or its refusal names --backfill-batch)')
  or diag(join("\n", (grep { /WARNING|ERROR/ } split /\n/, bridge_log($b))[0 .. 5]));
stop_bridge($b, 'KILL') if $b->{h}->pumpable;
stop_kafka_mock($k);
$node->stop;
done_testing();
