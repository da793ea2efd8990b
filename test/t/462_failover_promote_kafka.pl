# test/t/034 (PostgreSQL 15 failover under a backfilled bridge, recovered
# as docs/operations.md says) with Kafka: a physical standby is promoted
# under a bridge started with --create-slot --backfill=...; the bridge
# stops with exit 1 naming the timeline change and writes nothing of the
# new timeline; the same command line is refused too; the documented
# recovery (the same command line plus --accept-new-source) delivers every
# row of the new primary not pruned, at least once: duplicates only among
# rows delivered before; no completed row; then the service's command line
# streams the new primary, each new row once.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use PostgreSQL::Test::Cluster;
use Test::More;
use W2QTest;

my $k = start_kafka_mock(1);
my $bs = $k->{bootstrap};
my $primary = new_node('fok_primary');
$primary->safe_psql('postgres', q{
	CREATE TABLE jobs (
		id         bigint PRIMARY KEY,
		payload    text NOT NULL,
		status     text NOT NULL DEFAULT 'pending');
	INSERT INTO jobs SELECT g, 'old', 'completed' FROM generate_series(1, 300) g;
	INSERT INTO jobs (id, payload) SELECT g, 'backlog' FROM generate_series(301, 1000) g;
});
$primary->backup('bk');
my $standby = PostgreSQL::Test::Cluster->new('fok_standby');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
$standby->start;

my $conninfo = sprintf('host=%s,%s port=%d,%d dbname=postgres target_session_attrs=read-write',
	$primary->host, $standby->host, $primary->port, $standby->port);
my @cmd = ('-d', $conninfo, '--slot', 'jobs', '--create-slot', "--backfill=status = 'pending'",
	'--tables', 'public.jobs', '--sink', "kafka://$bs", '--status-interval', '1');

# key => how many times it is in the topic
sub delivered
{
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'kcat', '-b', $bs, '-C', '-t', 'public.jobs', '-o', 'beginning', '-e', '-q', '-f', '%k\n' ],
		'>', \$out, '2>', \$err, IPC::Run::timeout(120));
	my %n;
	$n{$_}++ for grep { /\S/ } split /\n/, $out;
	return \%n;
}
sub count { my $d = delivered(); my $n = 0; $n += $_ for values %$d; return $n }
sub wait_count
{
	my ($want, $br) = @_;
	return wait_until(sub { sleep 1; count() >= $want || !$br->{h}->pumpable }, 90) && count() == $want;
}

my $br = start_bridge(undef, undef, @cmd);
ok(wait_count(700, $br), 'the 700 pending rows are backfilled') or diag(bridge_log($br));
$primary->safe_psql('postgres', "INSERT INTO jobs (id, payload) SELECT g, 'streamed' FROM generate_series(1001, 2000) g");
ok(wait_count(1700, $br), '1000 rows streamed') or diag(bridge_log($br));
# a prune by hand: the rows delivered up to here older than 1500
$primary->safe_psql('postgres', 'DELETE FROM jobs WHERE id <= 1500');

# the bridge stalls while 10,000 rows of 2 kB commit and reach the standby
$br->{h}->signal('STOP');
$primary->safe_psql('postgres',
	"INSERT INTO jobs (id, payload) SELECT g, repeat('u', 2000) FROM generate_series(2001, 12000) g");
$primary->wait_for_catchup($standby);
$primary->stop('immediate');
$standby->promote;
$standby->safe_psql('postgres', "INSERT INTO jobs (id, payload) SELECT g, 'new primary' FROM generate_series(12001, 12100) g");
$br->{h}->signal('CONT');

ok(wait_until(sub { !$br->{h}->pumpable }, 90), 'the running bridge stopped after the promotion');
$br->{h}->finish;
is($br->{h}->full_result(0) >> 8, 1, 'with exit status 1');
like(bridge_log($br), qr/timeline changed from 1 to 2 at [0-9A-F]+\/[0-9A-F]+/, 'naming the timelines')
  or diag(bridge_log($br));
my $before = delivered();
my $n_before = count();
is(scalar(grep { $before->{$_} } 12001 .. 12100), 0, 'nothing of the new timeline was written');
note(scalar(grep { !$before->{$_} } 2001 .. 12000) . ' rows of the old primary reached the standby undelivered');
is($standby->safe_psql('postgres', 'SELECT count(*) FROM pg_replication_slots'), '0',
	'no slot was created on the promoted standby');

my ($code, $out) = run_bridge(@cmd);
is($code, 1, 'the same command line on the new primary: exit 1');
like($out, qr/timeline|--accept-new-source/, 'it says why and what to do') or diag($out);
is(count(), $n_before, 'and writes nothing');

# the documented recovery
$br = start_bridge(undef, undef, @cmd, '--accept-new-source');
ok(wait_until(sub {
		sleep 1;
		my $d = delivered();
		!$br->{h}->pumpable || !grep { !$d->{$_} } 1501 .. 12100
	}, 180) && $br->{h}->pumpable, 'the recovery delivers every row of the new primary') or diag(bridge_log($br));
$standby->safe_psql('postgres', "INSERT INTO jobs (id, payload) SELECT g, 'after' FROM generate_series(12101, 12150) g");
ok(wait_until(sub { sleep 1; delivered()->{12150} || !$br->{h}->pumpable }, 60) && delivered()->{12150},
	'and streams what is committed after it') or diag(bridge_log($br));
is(stop_bridge($br) >> 8, 0, 'SIGTERM: exit 0');

my $d = delivered();
my @missing = grep { !$d->{$_} } 1501 .. 12150;
is(scalar(@missing), 0, 'every row not yet pruned is delivered')
  or diag("missing: @missing[0 .. ($#missing < 9 ? $#missing : 9)]");
my @dup_outside = grep { ($d->{$_} // 0) > 1 && ($_ <= 1500 || !$before->{$_}) } keys %$d;
is(scalar(@dup_outside), 0, 'duplicates only among the rows delivered before the failover')
  or diag("also twice: @dup_outside[0 .. ($#dup_outside < 9 ? $#dup_outside : 9)]");
is(scalar(grep { ($d->{$_} // 0) > 2 } keys %$d), 0, 'none more than twice');
is(scalar(grep { $d->{$_} } 1 .. 300), 0, 'no completed row');

$br = start_bridge(undef, undef, @cmd);
$standby->safe_psql('postgres', "INSERT INTO jobs (id, payload) VALUES (12151, 'service')");
ok(wait_until(sub { sleep 1; delivered()->{12151} || !$br->{h}->pumpable }, 60) && $br->{h}->pumpable,
	'the service command line streams the new primary') or diag(bridge_log($br));
is(delivered()->{12151}, 1, 'once');
is(stop_bridge($br) >> 8, 0, 'SIGTERM: exit 0');

$standby->stop;
stop_kafka_mock($k);
done_testing();
