# What: with --plugin=pgoutput, any role that can log in (no privilege at
# all: PUBLIC may execute pg_logical_emit_message() on a managed server)
# makes the bridge hold a message of hundreds of MB in memory: a
# non-transactional message with a prefix that is not wal2queue's, which the
# bridge ignores, still arrives whole.  README "Bounded memory" promises
# the bridge stays under 64 MB RSS; a bridge in a container with a memory
# limit is killed, and since the message is sent again to every new
# session until the slot confirms past it, killed again: any LOGIN role
# can stop delivery for good.
# Why: the bridge asks pgoutput for messages ("messages 'true'", needed for
# send()), pgoutput sends every logical message whatever its prefix, and
# the stream is read with PQgetCopyData(), which buffers each CopyData
# message whole (bridge/stream.c); bridge/pgoutput.c decode_message()
# looks at the prefix only after that.
# Expected: the bridge's peak RSS stays bounded (the README's 64 MB), e.g.
# by reading CopyData with a bounded reader that skips a message whose
# prefix is not wal2queue's, or the README names the exception and its
# limit.
# Severity: medium (availability; any LOGIN role; the memory is one
# message's, up to 1 GB, twice with libpq's buffer doubling).
# Control: the same bridge with a 1 MB foreign message stays under 64 MB.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

sub peak_kb
{
	my ($b) = @_;
	my $pid = $b->{h}{KIDS}[0]{PID};
	my $status = slurp_file("/proc/$pid/status");
	return ($status =~ /VmHWM:\s+(\d+) kB/)[0];
}

my $node = new_managed_node('huge455');
my $r = start_redis();
psql_as($node, 'admin', q{CREATE ROLE mallory LOGIN});
my $b = start_managed_bridge($node, $r);
sub emit
{
	my ($mb) = @_;
	my ($out, $err) = run_command([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d',
		$node->connstr('app') . ' user=mallory', '-c',
		"SELECT pg_logical_emit_message(false, 'some-other-app', repeat('x', $mb * 1048576)) IS NOT NULL" ]);
	return $err;
}
my $rows = 0;
sub caught_up
{
	$rows++;
	psql_as($node, 'admin', "INSERT INTO jobs (queue, payload) VALUES ('q', '{\"row\": $rows}')");
	return wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq "$rows" }, 180);
}
is(emit(1), '', 'mallory (LOGIN only) emits a 1 MB message with a foreign prefix');
ok(caught_up(), 'decoded');
my $small = peak_kb($b);
cmp_ok($small, '<', 64 * 1024, "control: peak RSS after it: $small kB");
is(emit(300), '', 'mallory emits a 300 MB message with a foreign prefix');
ok(caught_up(), 'decoded') or diag(bridge_log($b));
my $big = peak_kb($b);
cmp_ok($big, '<', 64 * 1024, "the bridge's peak RSS stays under 64 MB: $big kB");
is(redis($r, 'EXISTS', 'some-other-app'), '0', 'and the message is no job');
stop_bridge($b);
done_testing();
