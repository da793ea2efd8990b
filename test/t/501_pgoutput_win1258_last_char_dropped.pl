# What: a database in WIN1258 (Vietnamese) streamed through
# --plugin=pgoutput.  Every text holding a character that is not ASCII
# loses its LAST character on the way to the sink: a row with "Hà Nam"
# reaches Redis as "Hà Na" (a payload '{"city": "Hà Nam"}' would lose its
# closing brace); PostgreSQL (client_encoding=UTF8) and the wal2queue
# plugin give "Hà Nam".
# Why: bridge/encoding.c encoding_to_utf8(): glibc's CP1258 decoder holds
# the last character back in the conversion state (a combining tone mark
# may follow it) until a flush, iconv(cd, NULL, NULL, &dst, &room), which
# the loop never makes: it stops when the input is consumed and drops what
# the state holds (the reset at the next call's start discards it).  The
# same holds for any stateful decoder glibc has for a PostgreSQL encoding.
# The backfill reads text columns of such a database as bytes and converts
# them with the same function (bridge/backfill_page.c raw_to_utf8()): a
# backfill in the default (wal2queue plugin) mode truncates them too.
# A job table named with such a character ("hàng") arrives as "hàn": no
# --tables pattern matches it and every row of it is skipped, silently.
# On Kafka, rows keyed "Hà Nam" and "Hà Nai" are both sent with key "Hà Na"
# (checked by hand with the mock): a compacted topic keeps one of them.
# Expected: the whole text, as PostgreSQL converts it (flush the state at
# the end of the input).
# Severity: high -- silent truncation of every non-ASCII value (payloads,
# routes, keys, names) of a WIN1258 database on a managed server; JSON
# payloads become invalid.
# Control (W2Q_ATTACK_CONTROL=1): "Ha Nam" (ASCII only, which is never
# converted): delivered as written.
# Fixed: bridge/encoding.c converts the single-byte encodings with tables
# of PostgreSQL's own mapping (bridge/encoding_tables.c, generated from
# the server's convert_from(); every code compared in test/t/025), so no
# glibc decoder holds a character back or composes a combining mark
# (WIN1258 "a" + 0xCC stays "a" U+0300, as PostgreSQL converts it); the
# EUC encodings, still converted by iconv, are flushed after each
# character.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my ($node, $r, $b) = @{ pgoutput_db_fixture('win501', 'vn', 'WIN1258') }{qw(node r b)};

my $text = $control ? 'Ha Nam' : "H\xc3\xa0 Nam";	# UTF-8 bytes of "Hà Nam"
$node->safe_psql('vn', "SET client_encoding = 'UTF8'; INSERT INTO jobs VALUES (1, '$text')");
is($node->safe_psql('vn', "SET client_encoding = 'UTF8'; SELECT v FROM jobs"), $text,
	'PostgreSQL converts the row to UTF-8 as written');
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '1' }, 30), 'the row is delivered')
  or diag(bridge_log($b));
my ($got) = redis($r, 'XRANGE', 'public.jobs', '-', '+') =~ /\nv\n([^\n]*)/;
$got //= '';
note('delivered bytes: ' . join(' ', map { sprintf '%02x', $_ } unpack 'C*', $got));
is($got, $text, 'the delivered text is whole');
stop_bridge($b);

# a job table whose name is not ASCII: its relation name arrives cut
# ("hàn"), matches no --tables pattern, and every row is skipped
my $tname = $control ? 'hang' : "h\xc3\xa0ng";	# "hàng"
$node->safe_psql('vn', qq{SET client_encoding = 'UTF8'; CREATE TABLE "$tname" (id int PRIMARY KEY)});
my $t = start_bridge($node, $r, '-d', $node->connstr('vn') . ' client_encoding=UTF8', '--plugin', 'pgoutput',
	'--publication', 'p2', '--slot', 'vn2', '--create-slot', '--tables', "public.$tname", '--status-interval', '1');
ok(wait_until(sub { bridge_log($t) =~ /streaming slot "vn2"/ }, 60), 'a bridge streams the table') or diag(bridge_log($t));
$node->safe_psql('vn', qq{SET client_encoding = 'UTF8'; INSERT INTO "$tname" VALUES (1)});
ok(wait_until(sub { redis($r, 'XLEN', "public.$tname") eq '1' }, 15), "the row of table \"$tname\" is delivered")
  or diag('keys: ' . redis($r, 'KEYS', '*'));
stop_bridge($t);

# the same row backfilled by the default (wal2queue plugin) mode: the
# backfill reads text as its bytes and converts them with the same function
my $bf = start_bridge($node, $r, '-d', $node->connstr('vn'), '--slot', 'vnbf', '--create-slot', '--backfill',
	'--tables', 'public.jobs', '--target-prefix', 'bf.', '--status-interval', '1');
ok(wait_until(sub { bridge_log($bf) =~ /backfill of slot "vnbf" done/ }, 30), 'the backfill is done') or diag(bridge_log($bf));
($got) = redis($r, 'XRANGE', 'bf.public.jobs', '-', '+') =~ /\nv\n([^\n]*)/;
$got //= '';
note('backfilled bytes: ' . join(' ', map { sprintf '%02x', $_ } unpack 'C*', $got));
is($got, $text, 'the backfilled text (plugin mode) is whole');
stop_bridge($bf);
$node->stop;
done_testing();
