# "WAL removed exits at once" (7cc1da9, 252) keys on SQLSTATE 58P01 alone
# (pgerror.c: stream_end_permanent = {58P01}), but 58P01 is PostgreSQL's
# code for any missing file (errcode_for_file_access(ENOENT)), and a running
# walsender loads libraries while it decodes: a column type's output
# function (an extension type: hstore, PostGIS, citext ...) is looked up
# (fmgr_info) when the plugin first describes the table.  A library that is
# missing for a moment -- an extension package being upgraded, a host
# whose package set lags -- ends the stream with 58P01 "could not access
# file ...": the bridge exits 1 saying the slot "needs WAL the server no
# longer has (pg_resetwal ...)", and its hint is to DROP the slot
# (--drop-slot) and backfill; the slot's WAL is all there (wal_status
# reserved).  Expected: a retry that delivers once the library is back, or
# at least no "WAL removed" diagnosis and no advice to drop a healthy slot.
# (The type's output function is a tiny C library built here, moved away
# and back, standing for the package upgrade.)
# Fixed (pgerror.c:pgerror_classify_stream_end): 58P01 ends the stream for
# good only with evidence, a message naming a WAL segment file (the
# walsender's "requested WAL segment %s has already been removed", 252);
# any other missing file is retried with backoff.
use strict;
use warnings;
use File::Copy qw(move);
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $dir = PostgreSQL::Test::Utils::tempdir();
open(my $fh, '>', "$dir/w2qtype.c") or die;
print $fh <<'C';
#include "postgres.h"
#include "fmgr.h"
#include "utils/builtins.h"
PG_MODULE_MAGIC;
PG_FUNCTION_INFO_V1(w2qint_out);
Datum
w2qint_out(PG_FUNCTION_ARGS)
{
	return DirectFunctionCall1(int4out, PG_GETARG_DATUM(0));
}
C
close($fh);
my $inc = `pg_config --includedir-server`;
chomp $inc;
system("gcc -shared -fPIC -I$inc -o $dir/w2qtype.so $dir/w2qtype.c") == 0 or die "gcc failed";

my $node = new_node('libmissing');
my $r = start_redis();
$node->safe_psql('postgres', qq{
	CREATE TYPE w2qint;
	CREATE FUNCTION w2qint_in(cstring) RETURNS w2qint AS 'int4in' LANGUAGE internal IMMUTABLE STRICT;
	CREATE FUNCTION w2qint_out(w2qint) RETURNS cstring AS '$dir/w2qtype', 'w2qint_out' LANGUAGE C IMMUTABLE STRICT;
	CREATE TYPE w2qint (INPUT = w2qint_in, OUTPUT = w2qint_out, LIKE = int4);
	CREATE TABLE rj (id int PRIMARY KEY, v w2qint);
});
my $b = start_bridge($node, $r, '--slot', 'sl', '--create-slot', '--tables', 'public.rj',
	'--status-interval', '1');
ok(wait_until(sub { bridge_log($b) =~ /streaming slot/ }, 30), 'streaming') or diag(bridge_log($b));

# the library is away for a moment when the walsender first needs it
move("$dir/w2qtype.so", "$dir/w2qtype.so.away") or die;
$node->safe_psql('postgres', "INSERT INTO rj VALUES (1, '42')");
sleep 3;
move("$dir/w2qtype.so.away", "$dir/w2qtype.so") or die;
is($node->safe_psql('postgres', "SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'sl'"),
	'reserved', 'the slot has all its WAL');
my $ok = wait_until(sub { redis($r, 'XLEN', 'public.rj') eq '1' }, 30);
my $log = bridge_log($b);
ok($ok, 'once the library is back the job is delivered') or diag($log);
unlike($log, qr/needs WAL the server no longer has/, 'no "WAL removed" diagnosis for a missing library');
unlike($log, qr/drop it \(--drop-slot\)/, 'no advice to drop a healthy slot');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
