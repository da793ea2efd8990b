# What: --backfill of a job table in a WIN1252 database where one row's
# text holds a character WIN1252 stores and UTF-8 lacks (0x81, chr(129):
# e.g. bytes pasted from another code page).  The wal2queue plugin streams
# such a row with U+FFFD (plugin/utf8.c: "A conversion must never fail");
# the backfill, reading the table over SQL, does not get past it.
# Why: since 456 every backfill connection asks for client_encoding=UTF8
# (bridge/pgerror.c pgerror_connect(), used by bridge/backfill_reader.c), so
# the server converts each page's text and raises "character with byte
# sequence 0x81 in encoding "WIN1252" has no equivalent in encoding "UTF8""
# for the page holding the row: the bridge exits ("could not read table
# public.jobs: ERROR:  character with byte sequence 0x81 ..."), naming
# neither the row nor the column, and so at every run: the backfill never
# finishes (the rows of that page and after it are never backfilled).
# Expected: the backfill finishes and delivers every row, the
# unconvertible character as the stream gives it (U+FFFD), or refuses by
# name the row it cannot convert.
# Severity: medium -- a backfill blocked for good by one row any writer of
# the table can make; the same row streams fine.
# Control (W2Q_ATTACK_CONTROL=1): the row holds chr(233) ("é"): the
# backfill finishes.
# Fixed: in a database whose encoding is not UTF8 the backfill reads
# text, varchar, json and jsonb columns that are not key columns as the hex
# of their bytes in the database's encoding (bridge/backfill_sql.c
# select_item()), and converts them to UTF-8 itself with iconv, U+FFFD for
# what UTF-8 lacks, as the plugin does (bridge/backfill_page.c,
# bridge/encoding.c).  Key columns are still converted by the server.
# Runs the wal2queue plugin: install the tree's plugin (a private copy of
# PostgreSQL's directories first in PATH).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $ch = $ENV{W2Q_ATTACK_CONTROL} ? 233 : 129;
my $node = new_node('bfwin476');
$node->safe_psql('postgres', q{CREATE DATABASE w ENCODING 'WIN1252' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0});
$node->safe_psql('w', qq{CREATE TABLE jobs (id int PRIMARY KEY, queue text, v text);
	INSERT INTO jobs SELECT g, 'q', CASE WHEN g = 5 THEN 'x' || chr($ch) ELSE 'ok' END FROM generate_series(1, 9) g});
my $r = start_redis();
my $b = start_bridge($node, $r, '-d', $node->connstr('w'), '--slot', 's', '--create-slot', '--backfill',
	'--backfill-batch', '3', '--tables', 'public.jobs', '--route-column', 'queue', '--status-interval', '1');
my $done = wait_backfill_done($r, $b, 's', 30);
ok($done, 'the backfill finishes') or diag(substr(bridge_log($b), -2000));
is(redis($r, 'XLEN', 'q'), '9', 'all 9 rows are backfilled');
unlike(bridge_log($b), qr/has no equivalent in encoding/, 'no page failed on the conversion');
my $want = $ch == 129 ? "x\xef\xbf\xbd" : "x\xc3\xa9";	# UTF-8 bytes
my @with = grep { join("\0", values %{ $_->[1] }) =~ /\Q$want\E/ } @{ stream_entries($r, 'q') };
is(scalar @with, 1, 'the backfilled row carries the character as UTF-8 (U+FFFD for chr(129))')
  or diag(explain(stream_entries($r, 'q')->[4]));
# the stream gives the same character as U+FFFD
$node->safe_psql('w', qq{INSERT INTO jobs VALUES (10, 'q', 'x' || chr($ch))});
ok(wait_until(sub { redis($r, 'XLEN', 'q') eq '10' }, 10), 'control: the streamed row with it is delivered')
  if $done;
@with = grep { join("\0", values %{ $_->[1] }) =~ /\Q$want\E/ } @{ stream_entries($r, 'q') };
is(scalar @with, 2, 'the streamed row carries it alike') if $done;
stop_bridge($b);
done_testing();
