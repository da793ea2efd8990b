# The bridge's command line and messages: permanent connection errors stop
# at once with a hint and transient ones are retried, decided by SQLSTATE
# (not by message text); --drop-slot refuses an active slot and a slot of
# another plugin; /healthz; --version; -q with -v; rediss://; warnings for
# a selection that streams nothing; the systemd unit of docs/.
use strict;
use warnings;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use Text::ParseWords qw(shellwords);
use Time::HiRes qw(time);
use W2QTest;

# one HTTP GET on loopback: (status, body)
sub http_get
{
	my ($port, $path) = @_;
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 5)
	  or return (0, '');
	print $s "GET $path HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
	local $/;
	my $reply = <$s> // '';
	close $s;
	my ($status) = $reply =~ m{^HTTP/1\.\d (\d+)};
	my ($body) = $reply =~ m{\r\n\r\n(.*)\z}s;
	return ($status // 0, $body // '');
}

# run the bridge to its end; (exit status, output, seconds)
sub timed_run
{
	my $t0 = time();
	my ($code, $out) = run_bridge(@_);
	return ($code, $out, time() - $t0);
}

# ---- the command line alone ----
my ($code, $out) = run_bridge('--version');
is($code, 0, '--version: exit 0');
like($out, qr/^wal2queue-bridge \d+\.\d+\.\d+$/m, '--version: our version');
like($out, qr/^frame protocol 1$/m, '--version: the frame protocol');
like($out, qr/^libpq 1\d\.\d+$/m, '--version: libpq');
like($out, qr/^hiredis \d+\.\d+\.\d+$/m, '--version: hiredis');
like($out, qr/^librdkafka \d+\.\d+\.\d+/m, '--version: librdkafka');

($code, $out) = run_bridge('--quiet', '--verbose');
is($code, 2, '--quiet --verbose: usage error, exit 2');
like($out, qr/--quiet and --verbose cannot be used together\nTry "wal2queue-bridge --help"/,
	'--quiet --verbose: says so, with a hint');

($code, $out) = run_bridge('--sink', 'rediss://:secret@cache:6380');
is($code, 2, 'rediss://: usage error, exit 2');
like($out, qr/rediss:\/\/ \(Redis over TLS\) is not supported.*stunnel or spiped.*unix socket/,
	'rediss://: says TLS is not supported and what to do instead');
unlike($out, qr/secret/, 'rediss://: the password is not repeated');

# ---- a server ----
my $node = new_node('cli', conf => "max_wal_senders = 3\n");
my $r = start_redis();
my $hba = $node->data_dir . '/pg_hba.conf';
my $trust = slurp_file($hba);
open my $fh, '>', $hba or die $!;
print $fh "local all needpw scram-sha-256\n$trust";
close $fh;
$node->reload;
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, queue text, payload text);
	CREATE ROLE norepl LOGIN;
	CREATE ROLE needpw LOGIN REPLICATION PASSWORD 'right';
	CREATE ROLE bridge LOGIN REPLICATION;
	SELECT pg_create_logical_replication_slot('jobs', 'wal2queue');
	SELECT pg_create_logical_replication_slot('td', 'test_decoding');
});
$node->safe_psql('postgres', 'CREATE DATABASE other');
my $cs = $node->connstr('postgres');
my @sink = ('--sink', "redis://127.0.0.1:$r->{port}");

# ---- permanent connection errors: exit 1 at once, with a hint ----
my $secs;
($code, $out, $secs) = timed_run('-d', "$cs user=norepl", '--slot', 'jobs', @sink);
is($code, 1, 'a role without REPLICATION: exit 1 (it retried forever before)');
ok($secs < 10, sprintf('a role without REPLICATION: at once (%.1f s)', $secs));
like($out, qr/must be superuser or replication role.*hint: .*ALTER ROLE name REPLICATION/,
	'a role without REPLICATION: the hint says what to grant');
unlike($out, qr/42501/, 'the SQLSTATE does not clutter the message');

{
	local $ENV{PGPASSWORD};
	delete $ENV{PGPASSWORD};
	local $ENV{PGPASSFILE} = '/nonexistent/pgpass';
	($code, $out, $secs) = timed_run('-d', "$cs user=needpw", '--slot', 'jobs', @sink);
	is($code, 1, 'no password supplied: exit 1 (it retried forever before)');
	ok($secs < 10, sprintf('no password supplied: at once (%.1f s)', $secs));
	like($out, qr/no password supplied.*hint: give the password in PGPASSWORD, in ~\/.pgpass/,
		'no password supplied: the hint says where a password goes');

	$ENV{PGPASSWORD} = 'wrong';
	($code, $out, $secs) = timed_run('-d', "$cs user=needpw", '--slot', 'jobs', @sink);
	is($code, 1, 'a wrong password: exit 1');
	like($out, qr/password authentication failed.*hint: check the password/,
		'a wrong password: with a hint');
}

($code, $out, $secs) = timed_run('-d', "$cs dbname=nosuchdb", '--slot', 'jobs', @sink);
is($code, 1, 'a database that does not exist: exit 1');
like($out, qr/"nosuchdb" does not exist.*hint: check dbname in --dbname/, 'a missing database: hint');

($code, $out) = run_bridge('-d', "$cs nosuchoption=1", '--slot', 'jobs', @sink);
is($code, 1, 'an unknown conninfo option: exit 1');
like($out, qr/invalid connection option "nosuchoption".*hint: check --dbname/, 'bad conninfo: hint');

# a server that answers in German (if the locale is installed)
SKIP:
{
	my ($de) = grep { /^de_DE\.utf-?8$/i } split /\n/, `locale -a 2>/dev/null`;
	skip 'no German locale installed (locale -a): the SQLSTATE path is tested above', 3
	  unless $de;
	$node->safe_psql('postgres', "ALTER SYSTEM SET lc_messages = '$de'");
	$node->reload;
	($code, $out, $secs) = timed_run('-d', "$cs user=norepl", '--slot', 'jobs', @sink);
	is($code, 1, 'German messages: a role without REPLICATION still exits 1');
	ok($secs < 10, 'German messages: at once');
	like($out, qr/hint: .*REPLICATION/, 'German messages: with the hint');
	$node->safe_psql('postgres', 'ALTER SYSTEM RESET lc_messages');
	$node->reload;
}

# ---- transient: too many connections (53300) is retried until cured ----
# three idle replication connections take every walsender (max_wal_senders = 3)
my @holders;
for my $i (1 .. 3)
{
	my $in = '';
	push @holders, IPC::Run::start([ 'psql', '-XAtq', '-d', "$cs replication=database" ],
		'<', \$in, '>', '/dev/null', '2>', '/dev/null');
}
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT count(*) FROM pg_stat_replication") eq '3' }, 15), 'every walsender is taken');
$node->safe_psql('other', "SELECT pg_create_logical_replication_slot('other', 'wal2queue')");
my $b = start_bridge($node, $r, '-d', $node->connstr('other'), '--slot', 'other', '--accept-new-source');
ok(wait_until(sub { bridge_log($b) =~ /exceeds max_wal_senders.*reconnecting in/ }, 15),
	'too many connections: retried');
sleep 2;
ok($b->{h}->pumpable, 'too many connections: the bridge is still running');
$_->kill_kill for @holders;
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "other"/ }, 30),
	'too many connections: streams once a walsender is free');
is(stop_bridge($b) >> 8, 0, 'too many connections: clean stop');

# ---- /healthz, --metrics :PORT, the busy-slot message ----
my $mport = free_port();
my $a = start_bridge($node, $r, '--slot', 'jobs', '--metrics', ":$mport", '--accept-new-source');
ok(wait_until(sub { (http_get($mport, '/healthz'))[0] == 200 }, 30), '/healthz: 200 while streaming');
my ($st, $body) = http_get($mport, '/healthz');
is($body, "ok: streaming; redis up\n", '/healthz: says it streams');
like(bridge_log($a),
	qr{serving metrics at http://0\.0\.0\.0:$mport/metrics and health at http://0\.0\.0\.0:$mport/healthz},
	'--metrics :PORT logs a usable address');

my $sport = free_port();
my $s = start_bridge($node, $r, '--slot', 'jobs', '--standby', '--metrics', "127.0.0.1:$sport");
ok(wait_until(sub { bridge_log($s) =~ /standing by: replication slot "jobs" is active for PID \d+$/m }, 30),
	'a standby stands by');
ok(wait_until(sub { (http_get($sport, '/healthz'))[0] == 200 }, 5), '/healthz: 200 while standing by');
stop_bridge($s);

my $busy = start_bridge($node, $r, '--slot', 'jobs');
ok(wait_until(sub { bridge_log($busy) =~ /replication slot "jobs" is active for PID/ }, 30),
	'a second bridge without --standby finds the slot busy');
my @busy_lines = grep { /is active for PID/ } split /\n/, bridge_log($busy);
is_deeply([ grep { /waiting/ } @busy_lines ], [],
	'the message that may give up does not say "waiting"');
stop_bridge($busy);

my $dport = free_port();
my $down = start_bridge($node, $r, '-d', 'host=127.0.0.1 port=' . free_port() . ' dbname=postgres',
	'--slot', 'jobs', '--metrics', "127.0.0.1:$dport");
ok(wait_until(sub { bridge_log($down) =~ /reconnecting in/ }, 15), 'PostgreSQL down: retried');
($st, $body) = http_get($dport, '/healthz');
is($st, 503, '/healthz: 503 while not streaming');
is($body, "not streaming\n", '/healthz: says why');
stop_bridge($down);

# ---- --drop-slot ----
($code, $out, $secs) = timed_run('-d', $cs, '--slot', 'jobs', '--drop-slot');
is($code, 1, '--drop-slot of an active slot: exit 1');
ok($secs < 10, sprintf('--drop-slot of an active slot: at once, no WAIT (%.1f s)', $secs));
like($out, qr/could not drop replication slot "jobs": replication slot "jobs" is active for PID \d+; not dropping it/,
	'--drop-slot of an active slot: refused, saying why');
is(stop_bridge($a) >> 8, 0, 'the streaming bridge stops');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'jobs'"),
	'1', 'the refused drop did not take the slot once it was released');

($code, $out) = run_bridge('-d', $cs, '--slot', 'td', '--drop-slot');
is($code, 1, '--drop-slot of a test_decoding slot: exit 1');
like($out, qr/replication slot "td" uses plugin "test_decoding", not wal2queue; not dropping it/,
	'--drop-slot of another plugin\'s slot: refused');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'td'"),
	'1', 'the other plugin\'s slot is still there');

$node->safe_psql('postgres', "SELECT pg_create_physical_replication_slot('phys')");
($code, $out) = run_bridge('-d', $cs, '--slot', 'phys', '--drop-slot');
is($code, 1, '--drop-slot of a physical slot: exit 1');
like($out, qr/replication slot "phys" is a physical slot; not dropping it/,
	'--drop-slot of a physical slot: refused');

($code, $out) = run_bridge('-d', $cs, '--slot', 'nosuch', '--drop-slot');
is($code, 1, '--drop-slot of a missing slot: exit 1');
like($out, qr/replication slot "nosuch" does not exist/, '--drop-slot of a missing slot: said');

($code, $out) = run_bridge('-d', $node->connstr('other'), '--slot', 'jobs', '--drop-slot');
is($code, 1, '--drop-slot of a slot of another database: exit 1');
like($out, qr/replication slot "jobs" belongs to database "postgres"; not dropping it/,
	'--drop-slot of a slot of another database: refused');

($code, $out) = run_bridge('-d', $node->connstr('other'), '--slot', 'other', '--drop-slot');
is($code, 0, '--drop-slot of an inactive wal2queue slot: exit 0');
like($out, qr{dropped replication slot "other" \(plugin wal2queue, database other, confirmed up to [0-9A-F]+/[0-9A-F]+\)},
	'--drop-slot: says what it dropped');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'other'"),
	'0', '--drop-slot: the slot is gone');

# ---- a selection that streams nothing: warnings at start ----
$b = start_bridge($node, $r, '--slot', 'jobs', '--tables', 'public.jbos, public.jobs',
	'--route-column', 'queu', '--key-column', 'id');
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "jobs"/ }, 30), 'the bridge streams');
my $log = bridge_log($b);
like($log, qr/WARNING.*--tables pattern "public\.jbos" matches no table/, 'a misspelled table: warned');
unlike($log, qr/pattern "public\.jobs"/, 'a table that exists: no warning');
like($log, qr/WARNING.*--route-column "queu" is not a column of any table --tables selects/,
	'a misspelled route column: warned');
unlike($log, qr/--key-column/, 'a key column that exists: no warning');
stop_bridge($b);

# ---- the systemd unit of docs/ ----
SKIP:
{
	my $root = $ENV{W2Q_ROOT};
	my $unit = slurp_file("$root/docs/wal2queue-bridge\@.service");
	my $ops = slurp_file("$root/docs/operations.md");
	my ($copy) = $ops =~ /## A systemd unit.*?```ini\n(.*?)```/s;
	is($copy, $unit, 'operations.md shows the unit file verbatim');
	my @comments = grep { /^\s*[A-Za-z]+=.*\s#/ } split /\n/, $unit;
	is_deeply(\@comments, [], 'no comment after a value (systemd would read it as part of it)');
	like($unit, qr/^EnvironmentFile=\/etc\/wal2queue\/%i\.env$/m, 'EnvironmentFile= is a bare path');

	# the command line it runs is one the bridge accepts
	my ($exec) = $unit =~ /^ExecStart=(.*?[^\\])$/ms;
	$exec =~ s/\\\n\s*/ /g;
	$exec =~ s/%i/jobs/g;
	my @argv = shellwords($exec);
	shift @argv;
	($code, $out) = run_bridge(@argv, '--version');
	is($code, 0, 'the unit\'s ExecStart options parse');

	my $sa = `command -v systemd-analyze 2>/dev/null`;
	chomp $sa;
	skip 'systemd-analyze is not installed (Debian: apt-get install systemd)', 2 unless $sa;
	my $dir = tempdir(CLEANUP => 1);
	my $test_unit = $unit;
	$test_unit =~ s{/usr/local/bin/wal2queue-bridge}{$ENV{W2Q_BRIDGE}};
	open my $u, '>', "$dir/wal2queue-bridge\@.service" or die $!;
	print $u $test_unit;
	close $u;
	my ($vout, $verr) = ('', '');
	my $ok = IPC::Run::run([ $sa, 'verify', "$dir/wal2queue-bridge\@.service" ],
		'>', \$vout, '2>', \$verr);
	skip "systemd-analyze verify cannot run here: $verr", 2
	  if !$ok && $verr =~ /Failed to (connect|initialize)|Can't operate/;
	ok($ok, 'systemd-analyze verify accepts the unit (ExecStart pointed at the built bridge)');
	is(join("\n", grep { /wal2queue-bridge\@/ } split /\n/, $vout . $verr), '',
		'systemd-analyze verify has nothing to say about it');
}

stop_redis($r);
$node->stop;
done_testing();
