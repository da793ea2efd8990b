# Attack review 4: --metrics with a port above 65535 is served elsewhere.
# metrics.c:metrics_start() hands the port text to getaddrinfo(), which
# takes 99999 and keeps its low 16 bits: the bridge logs "serving metrics at
# http://127.0.0.1:99999/metrics" and listens on 34463 -- the health check
# (Docker's, a load balancer's) probes a port nobody serves, or another
# service's.  Issue 11: bad input gets a clear error, "--metrics :PORT logs a
# usable address".  Fixed: metrics.c takes a port of 1 to 65535 in decimal
# only; anything else (99999, 0, a service name) exits 2 naming the port.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $log = $PostgreSQL::Test::Utils::tmp_check . '/metrics_port.log';
my $h = IPC::Run::start([ bridge_path(), '-d', 'host=/nonexistent dbname=x', '--metrics', '127.0.0.1:99999' ],
	'>', $log, '2>&1');
wait_until(sub { !$h->pumpable }, 5);
my $exited = !$h->pumpable;
$h->kill_kill if $h->pumpable;
$h->finish;
my $text = slurp_file($log);
diag($text);
ok($exited && ($h->full_result(0) >> 8) == 2, 'a port above 65535 is a usage error (exit 2)');
unlike($text, qr/serving metrics at http:\/\/127\.0\.0\.1:99999\//, 'it never claims to serve on a port that cannot exist');
like($text, qr/invalid --metrics port "99999" in "127\.0\.0\.1:99999" \(use a number from 1 to 65535\)/, 'the port is named');
for my $bad (':0', ':65536', ':http', ':-1', '[::1]:123456')
{
	my ($rc, $out) = run_bridge('-d', 'host=/nonexistent dbname=x', '--metrics', $bad);
	is($rc, 2, "--metrics $bad is a usage error");
}
done_testing();
