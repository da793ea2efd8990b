# What: an EUC_TW database holds CNS 11643 characters of planes 3 to 7
# (four bytes 0x8E 0xA3..0xA7 ..), which PostgreSQL stores (its EUC_TW
# verifier takes planes 1 to 16) and refuses to convert to UTF-8
# (convert_from() errors: "has no equivalent in encoding UTF8").  The
# plugin makes such a character U+FFFD (plugin/utf8.c, PostgreSQL's own
# conversion); the pgoutput bridge hands it to glibc's EUC-TW, which knows
# planes 1 to 7: plane 3's 0x8EA3A1A1 becomes U+4E28, plane 4's 0x8EA4A1A1
# U+20086 (four UTF-8 bytes), silently, with no WARNING.  The same row is
# two different texts in the two modes (a move from one mode to the other
# changes delivered values), and the bridge's claim "converts as
# convert_from() does; what the server refuses becomes U+FFFD with a
# WARNING" does not hold: test/helpers/encoding_codes.sql dumps EUC_TW's
# four-byte codes of planes 1 and 2 only, so no override was generated.
# Why: bridge/encoding.c convert_char(): only codes in encoding_tables.c's
# overrides are PostgreSQL's; every other EUC code goes to iconv(3), whose
# EUC-TW is a superset of PostgreSQL's (the generator,
# test/helpers/gen_encoding_tables.sh, sees only the codes the SQL dumps).
# Expected: the bridge converts as PostgreSQL does: a four-byte EUC_TW code
# outside planes 1 and 2 is refused (U+FFFD, one WARNING naming the table
# and the bytes), as the plugin does; pgoutput and plugin mode deliver the
# same bytes.  (The backfill converts in the bridge too: in plugin mode a
# backfilled row and the same row streamed differ.)
# Severity: low -- a rare plane, but a silent difference between the two
# modes (and from the database's own conversion) of the same row.
# Fixed: bridge/encoding.c refused_plane(): a four-byte EUC_TW code of
# planes 3 to 16 is refused without asking glibc (U+FFFD and the WARNING),
# as the plugin's pg_do_encoding_conversion_buf() refuses it; the generator
# (test/helpers/gen_encoding_tables.c) applies the same rule, and
# test/helpers/encoding_codes.sql dumps planes 1 to 16 (test/t/025 compares
# every code: 41,925 of planes 3 to 16 differed before).
# Control (W2Q_ATTACK_CONTROL=1): a plane-2 code (0x8EA2A1A1) instead,
# which both convert alike (U+4E42): passes.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my ($node, $r, $b) = @{ pgoutput_db_fixture('euctw546', 'tw', 'EUC_TW') }{qw(node r b)};

my $code = $control ? '\\x8e\\xa2\\xa1\\xa1' : '\\x8e\\xa3\\xa1\\xa1';
my ($rc, $o, $e) = $node->psql('postgres',
	"SELECT convert_from(decode('" . ($code =~ s/\\x//gr) . "', 'hex'), 'EUC_TW')");
ok($control ? $rc == 0 : $rc != 0, 'PostgreSQL ' . ($control ? 'converts' : 'refuses') . " $code: "
	  . ($rc ? $e : $o));
$node->safe_psql('tw', "SET client_encoding = 'EUC_TW'; INSERT INTO jobs VALUES (1, E'a${code}b')");
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '1' }, 30), 'the pgoutput bridge delivers the row')
  or diag(bridge_log($b));
my ($viaout) = redis($r, 'XRANGE', 'public.jobs', '-', '+') =~ /\nv\n([^\n]*)/;
stop_bridge($b);

my $p = start_bridge($node, $r, '-d', $node->connstr('tw'), '--slot', 'twp', '--create-slot', '--backfill',
	'--tables', 'public.jobs', '--target-prefix', 'plg.', '--status-interval', '1');
ok(wait_until(sub { bridge_log($p) =~ /streaming slot "twp"/ }, 60), 'the plugin-mode bridge streams')
  or diag(bridge_log($p));
$node->safe_psql('tw', "SET client_encoding = 'EUC_TW'; INSERT INTO jobs VALUES (2, E'a${code}b')");
ok(wait_until(sub { redis($r, 'XLEN', 'plg.public.jobs') eq '2' }, 30),
	'plugin mode backfills row 1 (the bridge converts) and streams row 2 (the plugin converts)')
  or diag(bridge_log($p));
my ($viabackfill, $viaplugin) = redis($r, 'XRANGE', 'plg.public.jobs', '-', '+') =~ /\nv\n([^\n]*)/g;
my $hex = sub { join(' ', map { sprintf '%02x', $_ } unpack 'C*', $_[0] // '') };
is($hex->($viabackfill), $hex->($viaplugin), 'the backfill delivers the bytes the plugin streams');
is($hex->($viaout), $hex->($viaplugin), 'pgoutput mode delivers the bytes the plugin delivers');
is($hex->($viaout), $hex->($control ? "a\xe4\xb9\x82b" : "a\xef\xbf\xbdb"),
	'as PostgreSQL converts it (' . ($control ? 'U+4E42' : 'refused: U+FFFD') . ')');
ok($control || bridge_log($b) =~ /WARNING: a value of table "public\.jobs" holds a character of database encoding EUC_TW/,
	'the pgoutput bridge warns of the unconvertible character');
stop_bridge($p);
stop_redis($r);
$node->stop;
done_testing();
