# --plugin=pgoutput (issue 12): the bridge takes Begin, Relation, Type,
# Insert, Commit and Message from pgoutput and ignores Update, Delete,
# Truncate and Origin.  The publication the bridge creates publishes
# inserts only, so those four reach it only through a publication made by
# hand that publishes everything, and a transaction replayed from another
# server (a replication origin).  On a server that refuses custom plugins,
# as a bridge role that is no superuser: every inserted row is a job exactly
# once (an update, a delete or a truncate takes none back, nor makes one),
# the inserts of a transaction with an origin are jobs, the slot is
# confirmed past transactions that made no job, and a kill -9 and a replay
# through all of it writes nothing twice.  A peek at the slot's WAL with
# pgoutput proves that the stream held each of the four message types.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('pgoignore', no_allow_list => 1);
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE ROLE bridge LOGIN REPLICATION;
	GRANT CREATE ON DATABASE postgres TO bridge;
	GRANT CREATE ON SCHEMA public TO bridge;
	SET ROLE bridge;
	CREATE TABLE jobs (id int PRIMARY KEY, v text);
	CREATE PUBLICATION everything FOR TABLE jobs
		WITH (publish = 'insert, update, delete, truncate');
	RESET ROLE;
	SELECT pg_create_logical_replication_slot('peek', 'pgoutput');
	SELECT pg_replication_origin_create('upstream');
});
my @args = ('-d', $node->connstr('postgres') . ' user=bridge', '--plugin', 'pgoutput',
	'--publication', 'everything', '--slot', 'w2q', '--create-slot', '--tables', 'public.jobs',
	'--status-interval', '1');
my $b = start_bridge($node, $r, @args);
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "w2q"/ }), 'the bridge streams a publication of everything')
  or diag(bridge_log($b));

$node->safe_psql('postgres', q{
	BEGIN;
	INSERT INTO jobs VALUES (1, 'a'), (2, 'b'), (3, 'c');
	UPDATE jobs SET v = 'a2' WHERE id = 1;
	DELETE FROM jobs WHERE id = 2;
	INSERT INTO jobs VALUES (4, 'd');
	COMMIT;
	UPDATE jobs SET v = 'only an update';
	DELETE FROM jobs WHERE id = 3;
	BEGIN;
	TRUNCATE jobs;
	INSERT INTO jobs VALUES (5, 'after truncate');
	COMMIT;
	TRUNCATE jobs;
});
# a transaction replayed from elsewhere: pgoutput sends an Origin message
$node->safe_psql('postgres', q{
	SELECT pg_replication_origin_session_setup('upstream');
	BEGIN;
	SELECT pg_replication_origin_xact_setup('0/ABCDEF', now());
	INSERT INTO jobs VALUES (6, 'from upstream');
	COMMIT;
	SELECT pg_replication_origin_session_reset();
});
$node->safe_psql('postgres', q{UPDATE jobs SET v = 'last'});
my $end = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');

is($node->safe_psql('postgres', q{
	SELECT string_agg(DISTINCT chr(get_byte(data, 0)), '' ORDER BY chr(get_byte(data, 0)))
	  FROM pg_logical_slot_peek_binary_changes('peek', NULL, NULL,
		'proto_version', '1', 'publication_names', 'everything', 'messages', 'true')}),
	'BCDIORTU', 'the stream holds Update, Delete, Truncate and Origin messages beside the others');

sub ids
{
	return join(',', map { $_->[1]{id} } @{ stream_entries($r, 'public.jobs') });
}
ok(wait_until(sub { ids() eq '1,2,3,4,5,6' }, 60), 'every inserted row is one job, in commit order')
  or diag(ids(), bridge_log($b));
is_deeply([ map { $_->[1]{v} } @{ stream_entries($r, 'public.jobs') } ],
	[ 'a', 'b', 'c', 'd', 'after truncate', 'from upstream' ], 'each as it was inserted');
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT confirmed_flush_lsn >= '$end' FROM pg_replication_slots WHERE slot_name = 'w2q'") eq 't' }, 60),
	'the slot is confirmed past the transactions that made no job');
ok($b->{h}->pumpable, 'the bridge goes on streaming');
unlike(bridge_log($b), qr/ERROR|malformed|unexpected/i, 'and logged no error');

# kill -9, then a replay from further back: the slot's own record is
# older than what Redis holds, and nothing is written twice
$b->{h}->signal('KILL');
$b->{h}->finish;
$node->safe_psql('postgres', q{INSERT INTO jobs VALUES (7, 'after the kill'); DELETE FROM jobs WHERE id = 7});
$b = start_bridge($node, $r, @args);
ok(wait_until(sub { ids() eq '1,2,3,4,5,6,7' }, 60), 'after kill -9: the new row once, nothing twice')
  or diag(ids(), bridge_log($b));
is(stop_bridge($b) >> 8, 0, 'SIGTERM: exit 0');
stop_redis($r);
$node->stop;
done_testing();
