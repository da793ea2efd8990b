# What: pgoutput mode without --create-slot (the publication and the slot
# exist): a reconnect's open checks the publication with SELECTs on
# pg_catalog.pg_publication; a maintenance transaction holding a lock on
# that catalog (here LOCK TABLE pg_catalog.pg_publication, as a VACUUM FULL
# of it takes) makes the check wait.  The edge 573 and 571 leave between
# them: 573 waits in CREATE PUBLICATION with --create-slot (its walsender
# holds the --create-slot lock), 571 in the plugin mode's registry read;
# here a plain publication query of a bridge holding no lock.
# Why: bridge/publication.c query() ran PQexec() (573); a given-up
# walsender holding nothing was left to the server (bridge/stream.c
# stream_exec(), 571).
# Expected: the check is given up after --recv-timeout (10 s) and named,
# the given-up walsender is ended at the next open, never more than two
# walsenders of the bridge are up, another replication client is accepted
# while the lock is held, SIGTERM would be heard; once the lock is gone the
# bridge streams again and delivers each job once.
# Severity: medium -- as 571 and 573 together (max_wal_senders used up, a
# bridge deaf to SIGTERM); no loss.
# Fixed: with 571 and 573: publication.c runs its commands through the
# open's stream_exec(), and end_given_up() ends the walsender of the open
# given up (pid, backend_start and server start all matching).
# Control: W2Q_ATTACK_CONTROL=1 holds no lock: the bridge streams on (passes).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
# autovacuum off: an ANALYZE of a catalog invalidates the relcache init
# file, and every backend started after it (the test's own connections)
# opens each cached catalog at startup, pg_publication included, and waits
# behind the lock
my $node = new_node('pub595', conf => "max_wal_senders = 5\nautovacuum = off\n");
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE TABLE pj (id int PRIMARY KEY);
});
my @pgo = ('--plugin', 'pgoutput', '--publication', 'pj_pub', '--slot', 'pj', '--tables', 'public.pj');

# the publication and the slot made by a first run with --create-slot
my $b = start_streaming_bridge($node, $r, @pgo, '--create-slot');
$node->safe_psql('postgres', 'INSERT INTO pj VALUES (1)');
ok(wait_until(sub { redis($r, 'XLEN', 'public.pj') eq '1' }, 30), 'job 1 delivered')
  or diag(bridge_log($b));
sigterm_bridge($b, 20);

$b = start_streaming_bridge($node, $r, @pgo, '--recv-timeout', '10');
like(bridge_log($b), qr/streaming slot "pj"/, 'the second bridge (no --create-slot) streams');

sub walsenders
{
	return $node->safe_psql('postgres', q{
		SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender'});
}

sub given_up
{
	my @m = bridge_log($b) =~
	  /could not run SELECT on the replication connection: no answer from the server/g;
	return scalar @m;
}

my $lock = $node->background_psql('postgres');
$lock->query_safe('BEGIN; LOCK TABLE pg_catalog.pg_publication IN ACCESS EXCLUSIVE MODE')
  unless $control;
$node->safe_psql('postgres', q{
	SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = 'pj'});

if ($control)
{
	ok(wait_until(sub { bridge_log($b) =~ /streaming slot "pj".*streaming slot "pj"/s }, 30),
		'without the lock the bridge streams again')
	  or diag(bridge_log($b));
}
else
{
	ok(wait_until(sub { $node->safe_psql('postgres', q{
		SELECT count(*) FROM pg_stat_activity
		WHERE backend_type = 'walsender' AND wait_event_type = 'Lock'
		  AND query LIKE '%pg_publication%'}) >= 1 }, 30),
		"the reconnect's publication check waits on the catalog's lock")
	  or diag(bridge_log($b));
	my $max = 0;
	ok(wait_until(sub {
		my $n = walsenders();
		$max = $n if $n > $max;
		given_up() >= 3 }, 90),
		'the check is given up after --recv-timeout, and named, at each attempt')
	  or diag(join("\n", grep { !/DEBUG/ } split /\n/, bridge_log($b)));
	cmp_ok($max, '<=', 2, "at most two walsenders of the bridge at a time (seen: $max)");
	like(bridge_log($b), qr/ended this bridge's own previous walsender \(pid \d+\), whose command was given up/,
		'the walsender of a given-up open is ended at the next open');
	my ($rc, $out, $err) = $node->psql('postgres', 'IDENTIFY_SYSTEM',
		connstr => $node->connstr('postgres') . ' replication=database');
	is($rc, 0, 'another replication client is accepted while the lock is held')
	  or diag($err);
}
$lock->quit;
$node->safe_psql('postgres', 'INSERT INTO pj VALUES (2)');
ok(wait_until(sub { redis($r, 'XLEN', 'public.pj') eq '2' }, 60), 'after the lock, job 2 is delivered')
  or diag(join("\n", grep { !/DEBUG/ } split /\n/, bridge_log($b)));
my ($gone, $took) = sigterm_bridge($b, 15);
ok($gone && $took < 5, sprintf('SIGTERM ends the bridge (%s after %.1f s)', $gone ? 'gone' : 'still running', $took));
$b->{h}->kill_kill unless $gone;
is(redis($r, 'XLEN', 'public.pj'), '2', 'each job once');
stop_redis($r);
$node->stop;
done_testing();
