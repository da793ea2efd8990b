# What: in a database whose encoding is not UTF8 (LATIN1 here), the
# wal2queue plugin converts every value to UTF-8 (plugin/FORMAT.md: jobs
# carry UTF-8), but the backfill reads the rows on a normal connection in
# the connection's client encoding -- the database's, unless the
# environment (PGCLIENTENCODING) or -d says otherwise -- and copies the
# bytes into the jobs as they are: the backfilled 'café' is "caf\xe9"
# (invalid UTF-8), the streamed one "caf\xc3\xa9".  Consumers that decode
# UTF-8 fail on backfilled jobs only (or, with PGCLIENTENCODING=WIN1252 in
# the service's environment, get yet other bytes).
# Why: bridge/backfill_reader.c bf_open_reader() connects with keys
# {"dbname", "fallback_application_name"} and never sets client_encoding
# to UTF8 (precheck.c precheck_encoding() demands it only for
# --plugin=pgoutput, and only for the stream's connection).
# Expected: backfilled and streamed jobs carry the same bytes, UTF-8: the
# reader sets client_encoding = 'UTF8' (or the backfill refuses a
# non-UTF8 database with a hint).
# W2Q_ATTACK_CONTROL=1 uses a UTF8 database: the two agree.
# Severity: medium (the backfilled jobs of a non-UTF8 database are not
# what the stream's jobs are: "same targets, keys, fields and typing as
# streamed rows" does not hold; no loss).
# Fixed: the backfill's reader and check connections SET client_encoding
# = 'UTF8' (BF_CLIENT_ENCODING, with the pinned settings): the rows are
# read as UTF-8 whatever the database's encoding or PGCLIENTENCODING.  (A
# resume of an older bridge's state, read with the session's settings,
# keeps the session's encoding until that backfill finishes.)
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bflatin1');
my $r = start_redis();
my $enc = $ENV{W2Q_ATTACK_CONTROL} ? 'UTF8' : 'LATIN1';
$node->safe_psql('postgres', "CREATE DATABASE lat ENCODING '$enc' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0");
$node->safe_psql('lat', q{
	CREATE TABLE jobs (id int PRIMARY KEY, note text);
	INSERT INTO jobs VALUES (1, 'caf' || chr(233));
});
my $b = start_bridge($node, $r, '-d', $node->connstr('lat'), '--slot', 'bf_lat', '--create-slot',
	'--tables', 'public.jobs', '--backfill', '--status-interval', '1');
ok(wait_until(sub { backfill_done($r, 'bf_lat') eq '1' || !$b->{h}->pumpable }, 30), 'backfill done')
  or diag(bridge_log($b));
$node->safe_psql('lat', q{INSERT INTO jobs VALUES (2, 'caf' || chr(233))});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '2' }, 30), 'the new row streamed')
  or diag(bridge_log($b));
my ($out, $err) = ('', '');
IPC::Run::run([ 'redis-cli', '-p', $r->{port}, '--no-raw', 'XRANGE', 'public.jobs', '-', '+' ], '>', \$out, '2>', \$err);
my @vals = $out =~ /(caf[^"]*)/g;
diag("entries: @vals");
is(scalar(@vals), 2, 'both entries carry the note');
is($vals[0], $vals[1], 'the backfilled row carries the same bytes as the streamed one');
like($vals[1] // '', qr/^caf\\xc3\\xa9/, 'UTF-8');
stop_bridge($b, 'KILL') if $b->{h}->pumpable;
stop_redis($r);
$node->stop;
done_testing();
