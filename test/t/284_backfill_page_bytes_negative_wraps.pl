# Attack 284 (fixed: parse_size() takes digits only and stops before a
# multiplication overflows): --backfill-page-bytes takes a negative number whose
# multiplication by the unit overflows into the valid range.
# main.c:parse_size() reads the number with strtoll() (a sign allowed) and
# multiplies it by 1024 per unit while it is <= max, which a negative
# number always is: -17179869183GB is -(2^34 - 1) * 2^30 = 2^30 - 2^64,
# a signed overflow (undefined) that wraps to 2^30, accepted as 1GB.
# (--help after the option: a value that parses exits 0 with the help, a
# refused one exits 2 before it.)
# Expected: exit 2, "invalid value ... for --backfill-page-bytes".
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my @base = ('-d', 'dbname=none', '--slot', 's', '--create-slot', '--backfill', '--sink', 'redis://127.0.0.1:1');
my ($rc, $out) = run_bridge(@base, '--backfill-page-bytes', '1GB', '--help');
is($rc, 0, 'control: 1GB parses (the help follows)');
($rc, $out) = run_bridge(@base, '--backfill-page-bytes', '-1kB', '--help');
is($rc, 2, 'control: -1kB is refused');
for my $v ('-17179869183GB', '-18014398509481983MB')
{
	($rc, $out) = run_bridge(@base, '--backfill-page-bytes', $v, '--help');
	is($rc, 2, "$v is refused (exit 2)");
	like($out, qr/invalid value "\Q$v\E" for --backfill-page-bytes/, "$v: named");
}
done_testing();
