# PostgreSQL 15 failover, recovered as docs/migration.md and
# docs/operations.md say: a physical standby is promoted under a bridge
# started with the guide's command line (--create-slot --backfill=...).  The
# bridge stops with exit 1 naming the timeline change, the same command line
# (what a service manager runs) is refused too and writes nothing, and the
# documented recovery (the same command line plus --accept-new-source)
# delivers every row of the new primary not delivered before, at least once:
# duplicates only among rows delivered since the last prune.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use PostgreSQL::Test::Cluster;
use Test::More;
use IPC::Run;
use W2QTest;

my $r = start_redis();
my $primary = new_node('fo_primary');
$primary->safe_psql('postgres', q{
	CREATE TABLE jobs (
		id         bigint PRIMARY KEY,
		payload    text NOT NULL,
		status     text NOT NULL DEFAULT 'pending',
		created_at timestamptz NOT NULL DEFAULT now());
	-- rows the old queue had finished: the condition leaves them out
	INSERT INTO jobs SELECT g, 'old', 'completed' FROM generate_series(1, 300) g;
	-- pending when the bridge starts: the backfill delivers them
	INSERT INTO jobs (id, payload) SELECT g, 'backlog' FROM generate_series(301, 1000) g;
});
$primary->backup('bk');
my $standby = PostgreSQL::Test::Cluster->new('fo_standby');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
$standby->start;

my $conninfo = sprintf('host=%s,%s port=%d,%d dbname=postgres target_session_attrs=read-write',
	$primary->host, $standby->host, $primary->port, $standby->port);
my @cmd = ('-d', $conninfo, '--slot', 'jobs', '--create-slot', "--backfill=status = 'pending'",
	'--tables', 'public.jobs', '--sink', "redis://127.0.0.1:$r->{port}", '--status-interval', '1');

my $lua = q{local r = redis.call('XRANGE', KEYS[1], '-', '+')
	local out = {}
	for i, e in ipairs(r) do
		local f = e[2]
		for j = 1, #f, 2 do if f[j] == 'id' then out[#out + 1] = f[j + 1] end end
	end
	return out};

# id => how many times it is in the stream
sub delivered
{
	my %n;
	$n{$_}++ for split /\n/, redis($r, 'EVAL', $lua, '1', 'public.jobs');
	return \%n;
}
sub xlen { return redis($r, 'XLEN', 'public.jobs') || 0 }

# ---- on the primary: backfill, then streaming ----
my $br = start_bridge(undef, undef, @cmd);
ok(wait_until(sub { xlen() == 700 || !$br->{h}->pumpable }, 60) && xlen() == 700,
	'the 700 pending rows are backfilled') or diag(bridge_log($br));
$primary->safe_psql('postgres', "INSERT INTO jobs (id, payload) SELECT g, 'streamed' FROM generate_series(1001, 2000) g");
ok(wait_until(sub { xlen() == 1700 || !$br->{h}->pumpable }, 60) && xlen() == 1700,
	'1000 rows streamed') or diag(bridge_log($br));

# prune: the rows delivered up to here that are older than 1500 are
# deleted (what wal2queue.prune() does to delivered rows; done by hand so
# that this test needs only the plugin)
$primary->safe_psql('postgres', 'DELETE FROM jobs WHERE id <= 1500');

# the bridge stalls (SIGSTOP) while 10,000 rows of 2 kB commit: they reach
# the standby; what the socket buffers held the bridge delivers when it
# wakes up, the rest never reaches it from the old primary
$br->{h}->signal('STOP');
$primary->safe_psql('postgres',
	"INSERT INTO jobs (id, payload) SELECT g, repeat('u', 2000) FROM generate_series(2001, 12000) g");
$primary->wait_for_catchup($standby);
$primary->stop('immediate');
$standby->promote;
$standby->safe_psql('postgres', "INSERT INTO jobs (id, payload) SELECT g, 'new primary' FROM generate_series(12001, 12100) g");
$br->{h}->signal('CONT');

ok(wait_until(sub { !$br->{h}->pumpable }, 60), 'the running bridge stopped after the promotion');
$br->{h}->finish;
is($br->{h}->full_result(0) >> 8, 1, 'with exit status 1');
like(bridge_log($br), qr/timeline changed from 1 to 2 at [0-9A-F]+\/[0-9A-F]+/,
	'naming the timelines and the switch point');
my $before = delivered();
my $n_before = xlen();
my @new_tl = grep { $before->{$_} } 12001 .. 12100;
is(scalar(@new_tl), 0, 'nothing of the new timeline was written');
my @undelivered = grep { !$before->{$_} } 2001 .. 12000;
note(scalar(@undelivered) . ' rows of the old primary reached the standby undelivered');
ok(@undelivered > 0, 'some rows of the old primary were not delivered when it died');
is($standby->safe_psql('postgres', 'SELECT count(*) FROM pg_replication_slots'), '0',
	'the reconnecting bridge created no slot on the promoted standby');

# a service manager restarts it with the same command line: refused again
my ($code, $out) = run_bridge(@cmd);
is($code, 1, 'the same command line on the new primary: exit 1');
like($out, qr/timeline|--accept-new-source/, 'it says why and what to do') or diag($out);
is(xlen(), $n_before, 'and writes nothing');

# ---- the documented recovery ----
$br = start_bridge(undef, undef, @cmd, '--accept-new-source');
my $want = $standby->safe_psql('postgres', 'SELECT count(*) FROM jobs');
ok(wait_until(sub {
		my $d = delivered();
		!$br->{h}->pumpable || !grep { !$d->{$_} } 1501 .. 12100
	}, 120) && $br->{h}->pumpable,
	"the recovery delivers every row of the new primary ($want)") or diag(bridge_log($br));
$standby->safe_psql('postgres', "INSERT INTO jobs (id, payload) SELECT g, 'after' FROM generate_series(12101, 12150) g");
ok(wait_until(sub { delivered()->{12150} || !$br->{h}->pumpable }, 60) && delivered()->{12150},
	'and streams what is committed after it');
is(stop_bridge($br) >> 8, 0, 'SIGTERM: exit 0');

my $d = delivered();
my @missing = grep { !$d->{$_} } 1501 .. 12150;
is(scalar(@missing), 0, 'every row not yet pruned is delivered: none missing')
  or diag("missing: @missing[0 .. ($#missing < 9 ? $#missing : 9)]");
my @dup_outside = grep { ($d->{$_} // 0) > 1 && ($_ <= 1500 || !$before->{$_}) } keys %$d;
is(scalar(@dup_outside), 0,
	'duplicates only among the rows delivered since the last prune')
  or diag("also twice: @dup_outside[0 .. ($#dup_outside < 9 ? $#dup_outside : 9)]");
my @more = grep { ($d->{$_} // 0) > 2 } keys %$d;
is(scalar(@more), 0, 'none more than twice');
my @completed = grep { $d->{$_} } 1 .. 300;
is(scalar(@completed), 0, 'no completed row');

# the service's command line (no --accept-new-source) now streams the new primary
$br = start_bridge(undef, undef, @cmd);
$standby->safe_psql('postgres', "INSERT INTO jobs (id, payload) VALUES (12151, 'service')");
ok(wait_until(sub { delivered()->{12151} || !$br->{h}->pumpable }, 60) && $br->{h}->pumpable,
	'the service command line streams the new primary') or diag(bridge_log($br));
is(delivered()->{12151}, 1, 'once');
is(stop_bridge($br) >> 8, 0, 'SIGTERM: exit 0');

$standby->stop;
stop_redis($r);
done_testing();
