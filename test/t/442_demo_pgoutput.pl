# `make demo PLUGIN=pgoutput` (issue 12: "a make demo variant that runs the
# whole demo through pgoutput"): test/demo.sh --plugin=pgoutput, what
# make demo runs after make deps and the build, ends with its three jobs
# read through a consumer group, on a server that refused the wal2queue
# plugin, through a pgoutput slot and the publication the bridge created as
# a role that is no superuser.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;

my $root = $ENV{W2Q_ROOT} // die 'W2Q_ROOT is not set';
my ($out, $err) = ('', '');
my $ok = IPC::Run::run([ "$root/test/demo.sh", '--plugin=pgoutput' ], '>', \$out, '2>', \$err,
	IPC::Run::timeout(180));
ok($ok, 'test/demo.sh --plugin=pgoutput exits 0') or diag($out, $err);
like($out, qr/as on a managed service the server refuses the plugin: .*may not be used as an output plugin/,
	'the server refused the wal2queue plugin');
like($out, qr/a bridge role as on a managed service: LOGIN REPLICATION, no superuser/, 'the bridge role');
is(() = $out =~ /ada\@example\.com|grace\@example\.com|image\W+42/g, 3, 'the worker read the three jobs');
like($out, qr/slot confirmed: pgoutput \S+/, 'through a pgoutput slot');
like($out, qr/the publication: wal2queue_jobs owned by wal2queue_bridge, inserts true/,
	'whose publication the bridge created as its role');
like($out, qr/demo finished: 3 jobs went PostgreSQL -> pgoutput -> wal2queue-bridge -> Redis Streams/,
	'the demo finishes');
done_testing();
