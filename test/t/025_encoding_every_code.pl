# The bridge converts a non-UTF8 database's text to UTF-8 itself (the
# pgoutput stream, the backfill, the send() prefix whose MAC it verifies:
# bridge/encoding.h).  Its conversion must be PostgreSQL's convert_from(),
# for every code: here every code of the 27 single-byte server encodings
# (0x80..0xFF), of EUC_JP and EUC_JIS_2004 (two bytes, 0x8E and 0x8F
# forms), EUC_CN and EUC_KR (two bytes) and EUC_TW (two bytes, four-byte
# CNS planes 1 to 16): 206,000 codes, dumped from this server by
# test/helpers/encoding_codes.sql, is converted by the bridge's own
# bridge/encoding.c (test/helpers/encoding-check, built by
# `make -C test/helpers`) and compared.  A code the server refuses must
# become U+FFFD.  Before: 196 EUC_JP and 2 EUC_JIS_2004 codes differed
# (glibc's EUC-JP tables; test/t/500), 3 EUC_TW codes PostgreSQL refuses
# were converted, and every WIN1255/WIN1258 code was lost (glibc's
# held-back character, test/t/501); 41,925 EUC_TW codes of planes 3 to 16,
# which PostgreSQL refuses, were converted by glibc (attack 546).
# Fixed: bridge/encoding.c refused_plane().
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $root = $ENV{W2Q_ROOT} // die 'W2Q_ROOT is not set';
my $check = "$root/test/helpers/encoding-check";
ok(-x $check, "$check is built (make -C test/helpers)") or BAIL_OUT("build $check first");

my $node = new_node('enc025');
my $sql = slurp_file("$root/test/helpers/encoding_codes.sql");
my $codes = $node->safe_psql('postgres', $sql);
my @lines = split /\n/, $codes;
cmp_ok(scalar(@lines), '>', 206000, 'the server converted every code (' . scalar(@lines) . ' lines)');
my %encs = map { (split / /)[0] => 1 } @lines;
is(scalar(keys %encs), 32, '27 single-byte encodings and 5 EUC ones');

my $in = "$PostgreSQL::Test::Utils::tmp_check/codes.txt";
open(my $fh, '>', $in) or die "$in: $!";
print $fh $codes, "\n";
close $fh;
my ($out, $err) = run_command([ 'sh', '-c', "'$check' < '$in'" ]);
my @out = split /\n/, $out;
like($out[-1] // '', qr/^\d+ codes, 0 differ$/, 'the bridge converts every code as PostgreSQL does')
  or diag(join("\n", @out[0 .. ($#out < 40 ? $#out : 40)]) . "\n$err");

# the controls: a few codes of each kind, as the server converts them
my %want = (
	'WIN1258 e0' => 'c3a0',		# "à": glibc held it back (501)
	'WIN1258 cc' => 'cc80',		# combining grave, not composed
	'EUC_JP ada1' => 'e291a0',	# NEC row 13 "①": glibc has none (500)
	'EUC_JP a1c1' => 'efbd9e',	# "～" U+FF5E, glibc U+301C
	'EUC_JIS_2004 a1b1' => 'e280be',
	'EUC_TW a7a8' => '-',			# refused; glibc has U+4EA0
	'EUC_TW 8ea2a1a1' => 'e4b982',	# plane 2: U+4E42
	'EUC_TW 8ea3a1a1' => '-',		# plane 3 refused; glibc has U+4E28 (546)
	'EUC_TW 8ea4a1a1' => '-');		# plane 4 refused; glibc has U+20086
for my $k (sort keys %want)
{
	my ($line) = grep { index($_, "$k ") == 0 } @lines;
	is((split / /, $line // '')[2] // '', $want{$k}, "the server converts $k to $want{$k}");
}
$node->stop;
done_testing();
