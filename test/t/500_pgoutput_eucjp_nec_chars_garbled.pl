# What: a database in EUC_JP streamed through --plugin=pgoutput.  A row
# whose text holds one of the NEC special characters PostgreSQL's EUC_JP
# stores and converts (row 13: "①" 0xADA1 -> U+2460, "㍉", "№", ...; common
# in Japanese text) followed by other Japanese text ("①亜b") reaches Redis
# as "\x{FFFD}＾\x{FFFD}b": the "①" is replaced, the "亜" after it is gone and
# a "＾" that no one wrote is in its place.  PostgreSQL itself (SELECT with
# client_encoding=UTF8) and the wal2queue plugin give "①亜b".
# Why: bridge/encoding.c encoding_to_utf8(): glibc's iconv "EUC-JP" (the
# name encoding_iconv_name() maps EUC_JP to) lacks the NEC and IBM
# extensions PostgreSQL's EUC_JP <-> UTF8 tables hold, and on EILSEQ the
# loop writes U+FFFD and skips ONE byte of a two-byte character: the trail
# byte (0xA1) is then read as the lead byte of the next pair ("A1 B0" =
# U+FF3E), and the text after it is decoded out of step until an ASCII
# byte resynchronises it.  Silent change of job data, not a U+FFFD.  The
# backfill converts text of such a database with the same function
# (bridge/backfill_page.c raw_to_utf8()), so in the default plugin mode a
# row backfilled reads otherwise than the same row streamed by the plugin.
# Expected: the job's text is PostgreSQL's own conversion ("①亜b"); at
# worst one U+FFFD per character that does not convert, never a change of
# the characters after it (skip the whole character, as plugin/utf8.c does).
# Severity: medium -- silent corruption of delivered job data (payloads,
# routes, keys) in EUC_JP databases on managed servers; any EUC_JP text
# with a character from these rows (circled digits, roman numerals, units)
# shifts what follows it.
# Control (W2Q_ATTACK_CONTROL=1): the same row without the "①" ("亜b"):
# delivered as written.
# Fixed: bridge/encoding.c converts EUC_JP one whole character at a time
# (PostgreSQL's length rules) and takes PostgreSQL's mapping for the codes
# where glibc's differs (bridge/encoding_tables.c, generated from the
# server's convert_from() by test/helpers/gen_encoding_tables.sh; every
# code compared in test/t/025).  A code PostgreSQL cannot convert
# (0xA9A1, stored as bytes) becomes one U+FFFD, the text after it kept,
# with one WARNING per session naming the table and the bytes.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my ($node, $r, $b) = @{ pgoutput_db_fixture('eucjp500', 'ej', 'EUC_JP') }{qw(node r b)};

# UTF-8 bytes: U+2460 (circled digit one), U+4E9C (亜), 'b'
my $text = ($control ? '' : "\xe2\x91\xa0") . "\xe4\xba\x9cb";
$node->safe_psql('ej', "SET client_encoding = 'UTF8'; INSERT INTO jobs VALUES (1, '$text')");
my $pg = $node->safe_psql('ej', "SET client_encoding = 'UTF8'; SELECT v FROM jobs WHERE id = 1");
is($pg, $text, 'PostgreSQL converts the row to UTF-8 as written');
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '1' }, 30), 'the row is delivered')
  or diag(bridge_log($b));
my $raw = redis($r, 'XRANGE', 'public.jobs', '-', '+');
my ($got) = $raw =~ /\nv\n([^\n]*)/;
$got //= '';
note('delivered bytes: ' . join(' ', map { sprintf '%02x', $_ } unpack 'C*', $got));
is($got, $text, 'the delivered text is what PostgreSQL holds (no character after it changed)');

# a code PostgreSQL stores (valid EUC_JP bytes) but cannot convert: one
# U+FFFD, the text after it kept, one WARNING naming the table and bytes
unless ($control)
{
	$node->safe_psql('ej', "SET client_encoding = 'EUC_JP'; INSERT INTO jobs VALUES (3, E'x\\xa9\\xa1\\xb0\\xa1b'), (4, E'\\xa9\\xa2')");
	ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '3' }, 30), 'the unconvertible rows are delivered')
	  or diag(bridge_log($b));
	my @u = redis($r, 'XRANGE', 'public.jobs', '-', '+') =~ /\nv\n([^\n]*)/g;
	is($u[1] // '', "x\xef\xbf\xbd\xe4\xba\x9cb", 'the unconvertible character is one U+FFFD, "亜b" after it kept');
	my @w = bridge_log($b) =~ /WARNING: (a value of table "public\.jobs" holds a character of database encoding EUC_JP[^\n]*)/g;
	is(scalar(@w), 1, 'one WARNING for the session') or diag(bridge_log($b));
	like($w[0] // '', qr/bytes 0xA9 0xA1/, 'it names the bytes');
}
stop_bridge($b);

# the same row through the wal2queue plugin (the installed one), backfilled
# and streamed: the plugin converts with PostgreSQL's own tables, the
# backfill with the bridge's function
my $p = start_bridge($node, $r, '-d', $node->connstr('ej'), '--slot', 'ejp', '--create-slot', '--backfill',
	'--tables', 'public.jobs', '--target-prefix', 'plg.', '--status-interval', '1');
ok(wait_until(sub { bridge_log($p) =~ /streaming slot "ejp"/ }, 60), 'the plugin-mode bridge streams')
  or diag(bridge_log($p));
$node->safe_psql('ej', "SET client_encoding = 'UTF8'; INSERT INTO jobs VALUES (2, '$text')");
my $want = $control ? 2 : 4;	# backfilled 1 (3, 4), streamed 2
ok(wait_until(sub { redis($r, 'XLEN', 'plg.public.jobs') eq $want }, 30), 'backfilled and streamed')
  or diag(bridge_log($p));
my @v = redis($r, 'XRANGE', 'plg.public.jobs', '-', '+') =~ /\nv\n([^\n]*)/g;
is($v[-1] // '', $text, 'the plugin streams the text PostgreSQL holds');
is($v[0] // '', $text, 'the backfill (the bridge converts) gives the text PostgreSQL holds');
unless ($control)
{
	is($v[1] // '', "x\xef\xbf\xbd\xe4\xba\x9cb", 'the backfill makes the unconvertible character one U+FFFD');
	my @w = bridge_log($p) =~ /WARNING: (a backfilled value of table "public\.jobs" holds a character[^\n]*)/g;
	is(scalar(@w), 1, 'one WARNING for the backfill, naming the table') or diag(bridge_log($p));
}
stop_bridge($p);
$node->stop;
done_testing();
