# What: a lost slot (max_slot_wal_keep_size) refused at start, as
# docs/operations.md "Recovering a lost slot" describes: the error prints
# "the exact command that recovers", the bridge's own command line plus
# --recreate-lost-slot.  It prints it whole: a password given in -d
# ("host=... user=wal2queue_bridge password=..."), in the Redis URL
# (redis://:PASSWORD@host, the form --help documents) or in a Kafka
# property (-X sasl.password=...) is written in clear into the log, hence
# the journal and whatever ships it.  The bridge's --help and docs offer
# every one of these forms.
# Why: bridge/ builds the hint by quoting argv as given; nothing redacts a
# conninfo's password, a URL's userinfo or a -X *.password value.
# Expected: the hint shows the command with the secrets masked (e.g.
# password=*** / redis://:***@, -X sasl.password=***) or refers to "your
# command line plus --recreate-lost-slot --backfill"; no secret from the
# command line appears in the log.
# Severity: medium -- credentials leak into logs on an operator fault that
# every long-lived deployment meets sooner or later.
# Control (W2Q_ATTACK_CONTROL=1): the same command line without passwords:
# the hint is printed (the recovery hint itself works, test/t/035).
# Fixed: main.c's recovery_command() reads argv the way getopt_long does
# and masks (bridge/cmdline.c) the password and sslpassword of -d (key=value
# or postgresql:// URI), the password of --sink redis://[user]:pw@ and the
# secret -X properties (*password*, *secret*, sasl.oauthbearer.config, ...)
# as ***; the hint says "passwords and secrets of the command line are
# shown as ***: put yours back".  test/unit/test_cmdline.c covers each form.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('lost559', conf => "max_slot_wal_keep_size = 1MB\nwal_keep_size = 0\n");
my $r = start_redis();
redis($r, 'CONFIG', 'SET', 'requirepass', 'redisSecret559') unless $control;
$node->safe_psql('postgres', q{CREATE TABLE jobs (id int PRIMARY KEY, pad text)});

my $sink = $control ? "redis://127.0.0.1:$r->{port}" : "redis://:redisSecret559\@127.0.0.1:$r->{port}";
my $d = $node->connstr('postgres') . ($control ? '' : ' password=pgSecret559');
my @cmd = ('-d', $d, '--slot', 'jobs', '--create-slot', '--tables', 'public.jobs',
	'--sink', $sink, '--status-interval', '1');
my $b = start_streaming_bridge(undef, undef, @cmd);
like(bridge_log($b), qr/streaming slot "jobs"/, 'the bridge streams') or diag(bridge_log($b));
is(stop_bridge($b) >> 8, 0, 'stopped');

for my $i (1 .. 4)
{
	$node->safe_psql('postgres', "INSERT INTO jobs SELECT g, repeat('y', 1000) FROM generate_series($i * 10000, $i * 10000 + 999) g");
	$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
}
$node->safe_psql('postgres', 'CHECKPOINT');
is($node->safe_psql('postgres', q{SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'jobs'}),
	'lost', 'the slot is lost');

my ($code, $out) = run_bridge(@cmd);
is($code, 1, 'the lost slot is refused (exit 1)');
like($out, qr/is lost.*--recreate-lost-slot/s, 'with the recovery command') or diag($out);
unlike($out, qr/pgSecret559/, 'the PostgreSQL password of -d is not in the log');
unlike($out, qr/redisSecret559/, 'the Redis password of --sink is not in the log');
like($out, qr/hint: \S*wal2queue-bridge -d '.*password=\*\*\*' .*--sink 'redis:\/\/:\*\*\*\@127\.0\.0\.1:\d+' /,
	'the command keeps its shape, the passwords masked as ***') or diag($out) unless $control;
like($out, qr/--backfill re-creates it \(passwords and secrets of the command line are shown as \*\*\*: put yours back\)/,
	'the hint says secrets were left out');
done_testing();
