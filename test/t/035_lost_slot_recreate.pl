# A lost slot, recovered as docs/migration.md ("A lost slot") and
# docs/operations.md say: the bridge runs with the guide's command line
# (--create-slot --backfill="status = 'pending'"), the table is pruned, the
# bridge stops, the slot falls behind max_slot_wal_keep_size and is lost.
# The same command line stops with exit 1 and prints the recovery command;
# running exactly that command delivers every row not yet pruned, at least
# once: duplicates only among the rows delivered since the last prune.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use W2QTest;

my $node = new_node('lost_recreate', conf => "max_slot_wal_keep_size = 1MB\nwal_keep_size = 0\n");
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE job_queue (
		id         bigint PRIMARY KEY,
		payload    text NOT NULL,
		status     text NOT NULL DEFAULT 'pending',
		created_at timestamptz NOT NULL DEFAULT now());
	INSERT INTO job_queue SELECT g, 'old', 'completed' FROM generate_series(1, 200) g;
	INSERT INTO job_queue (id, payload) SELECT g, 'backlog' FROM generate_series(201, 500) g;
});

my @cmd = ('-d', $node->connstr('postgres'), '--slot', 'job_queue', '--create-slot',
	"--backfill=status = 'pending'", '--tables', 'public.job_queue',
	'--redis-group', 'workers', '--sink', "redis://127.0.0.1:$r->{port}");

my $lua = q{local r = redis.call('XRANGE', KEYS[1], '-', '+')
	local out = {}
	for i, e in ipairs(r) do
		local f = e[2]
		for j = 1, #f, 2 do if f[j] == 'id' then out[#out + 1] = f[j + 1] end end
	end
	return out};
sub delivered
{
	my %n;
	$n{$_}++ for split /\n/, redis($r, 'EVAL', $lua, '1', 'public.job_queue');
	return \%n;
}
sub xlen { return redis($r, 'XLEN', 'public.job_queue') || 0 }

my $br = start_bridge(undef, undef, @cmd);
$node->safe_psql('postgres', "INSERT INTO job_queue (id, payload) SELECT g, 'streamed' FROM generate_series(501, 1000) g");
ok(wait_until(sub { xlen() == 800 || !$br->{h}->pumpable }, 60) && xlen() == 800,
	'300 backfilled and 500 streamed') or diag(bridge_log($br));
# prune (by hand, as wal2queue.prune() would delete delivered rows)
$node->safe_psql('postgres', 'DELETE FROM job_queue WHERE id <= 700');
is(stop_bridge($br) >> 8, 0, 'the bridge stops');

# while it is stopped: 4,000 rows of 1 kB, and the slot is lost
for my $i (1 .. 4)
{
	my $lo = 1000 * $i + 1;
	my $hi = 1000 * $i + 1000;
	$node->safe_psql('postgres',
		"INSERT INTO job_queue (id, payload) SELECT g, repeat('y', 1000) FROM generate_series($lo, $hi) g");
	$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
}
ok(wait_until(sub {
		$node->safe_psql('postgres', 'CHECKPOINT');
		$node->safe_psql('postgres', "SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'job_queue'") eq 'lost'
	}, 30), 'the slot is lost');

my ($code, $out) = run_bridge(@cmd);
is($code, 1, 'the same command line: exit 1');
like($out, qr/replication slot "job_queue" is lost/, 'it says the slot is lost');
my ($printed) = $out =~ /hint: (wal2queue-bridge .*?) re-creates it/;
ok(defined $printed && $printed =~ /--recreate-lost-slot/ && $printed =~ /--backfill/,
	'and prints the recovery command') or diag($out);
is(xlen(), 800, 'nothing was delivered');

# run exactly the printed command (shell-quoted)
my ($argv0, $err) = ('', '');
IPC::Run::run([ 'sh', '-c', 'eval "set -- $1"; printf "%s\0" "$@"', 'sh', $printed // 'false' ],
	'>', \$argv0, '2>', \$err);
my @printed = split /\0/, $argv0;
shift @printed;
$br = start_bridge(undef, undef, @printed);
ok(wait_until(sub { my $d = delivered(); !$br->{h}->pumpable || !grep { !$d->{$_} } 701 .. 5000 }, 120)
	  && $br->{h}->pumpable, 'the recovery delivers every row not yet pruned') or diag(bridge_log($br));
$node->safe_psql('postgres', "INSERT INTO job_queue (id, payload) VALUES (5001, 'after')");
ok(wait_until(sub { delivered()->{5001} || !$br->{h}->pumpable }, 60) && delivered()->{5001},
	'and streams what is committed after it') or diag(bridge_log($br));
is(stop_bridge($br) >> 8, 0, 'SIGTERM: exit 0');

my $d = delivered();
my @missing = grep { !$d->{$_} } 701 .. 5001;
is(scalar(@missing), 0, 'none missing') or diag("missing: @missing[0 .. ($#missing < 9 ? $#missing : 9)]");
my @dup_outside = grep { $d->{$_} > 1 && ($_ <= 700 || $_ > 1000) } keys %$d;
is(scalar(@dup_outside), 0, 'duplicates only among the rows delivered since the last prune (701..1000)')
  or diag("also twice: @dup_outside[0 .. ($#dup_outside < 9 ? $#dup_outside : 9)]");
is(scalar(grep { $d->{$_} > 2 } keys %$d), 0, 'none more than twice');
is(scalar(grep { $d->{$_} } 1 .. 200), 0, 'no completed row');

# the service's command line streams from the new slot
$br = start_bridge(undef, undef, @cmd);
$node->safe_psql('postgres', "INSERT INTO job_queue (id, payload) VALUES (5002, 'service')");
ok(wait_until(sub { delivered()->{5002} || !$br->{h}->pumpable }, 60) && delivered()->{5002},
	'the service command line streams the new slot') or diag(bridge_log($br));
is(delivered()->{5002}, 1, 'once');
is(stop_bridge($br) >> 8, 0, 'SIGTERM: exit 0');

stop_redis($r);
$node->stop;
done_testing();
