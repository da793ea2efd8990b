# What: in pgoutput mode the stream's open checks (and with --create-slot
# creates) the publication on the replication connection with plain
# PQexec: CREATE PUBLICATION ... FOR TABLE waits for the table's lock (an
# ALTER TABLE, a LOCK TABLE, a long migration) with no bound and deaf to
# SIGTERM, although session 9 made "each command of a stream's open" give
# up after --recv-timeout and hear SIGTERM within 5 s (README, test 560).
# The same PQexec calls hang on a path gone silent just after the connect.
# Why: bridge/slot.c slot_check_publication() -> bridge/publication.c
# publication_prepare(), missing_publication(), create_publication(),
# query(), slot_exists() (and pubwatch_read_first(), the stream's
# before_start) run PQexec() on s->conn, not stream_exec()/pgerror_exec().
# Expected: with --recv-timeout 10 the waiting command is given up (the
# bridge says so and reconnects) and SIGTERM ends the bridge within 5 s.
# Severity: medium-low -- a bridge that ignores `systemctl stop` (until
# SIGKILL) for as long as the lock is held; no loss.  Reliable.
# Fixed: publication_prepare() (bridge/publication.c: its queries,
# slot_exists(), CREATE PUBLICATION) and pubwatch_read_first() run their
# commands through the open's executor (a PgExec, pgerror.h), which
# bridge/slot.c slot_check_publication() and stream_open() give them:
# stream_exec(), bounded by --recv-timeout and the stop flag; a command
# given up fails the open, which is retried (and its walsender is ended at
# the next open: test/t/571).
# Control: W2Q_ATTACK_CONTROL=1 holds no lock: the bridge streams and
# SIGTERM ends it within 5 s (passes).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('pub573');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE TABLE pj (id int PRIMARY KEY);
});
my $lock;
unless ($control)
{
	$lock = $node->background_psql('postgres');
	$lock->query_safe('BEGIN; LOCK TABLE pj IN ACCESS EXCLUSIVE MODE');
}
my $b = start_bridge($node, $r, '--plugin', 'pgoutput', '--publication', 'pj_pub', '--slot', 'pj',
	'--create-slot', '--tables', 'public.pj', '--recv-timeout', '10');
if ($control)
{
	ok(wait_until(sub { bridge_log($b) =~ /streaming slot "pj"/ }, 30), 'the bridge streams')
	  or diag(bridge_log($b));
}
else
{
	ok(wait_until(sub { $node->safe_psql('postgres', q{
		SELECT count(*) FROM pg_stat_activity
		WHERE backend_type = 'walsender' AND wait_event_type = 'Lock'}) >= 1 }, 30),
		"the open's CREATE PUBLICATION waits for the table's lock")
	  or diag(bridge_log($b));
	like($node->safe_psql('postgres', q{
		SELECT query FROM pg_stat_activity
		WHERE backend_type = 'walsender' AND wait_event_type = 'Lock'}),
		qr/^CREATE PUBLICATION/, 'the waiting command is the CREATE PUBLICATION');
	ok(wait_until(sub { bridge_log($b) =~ /on the replication connection: no answer from the server/ }, 30),
		'it is given up after --recv-timeout (10 s), and named')
	  or diag(join("\n", grep { !/DEBUG/ } split /\n/, bridge_log($b)));
}
my ($gone, $took) = sigterm_bridge($b, 15);
ok($gone && $took < 5, sprintf('SIGTERM ends the bridge (%s after %.1f s)', $gone ? 'gone' : 'still running', $took))
  or diag(join("\n", grep { !/DEBUG/ } split /\n/, bridge_log($b)));
$b->{h}->kill_kill unless $gone;
$lock->quit if $lock;
stop_redis($r);
$node->stop;
done_testing();
