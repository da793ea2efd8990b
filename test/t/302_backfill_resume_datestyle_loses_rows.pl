# A backfill resumed by a bridge whose session has another DateStyle.  The
# resume point (the state's key; with Kafka also the "backfill" header the
# uncertain page's evidence is matched on) is the key columns' text as the
# bridge's session printed it (backfill_page.c bf_page_key_texts); a resume
# reads it back with "(k) > ($1::date)" in the new session (backfill_sql.c),
# which parses it with its own DateStyle.  The first run here has
# PGDATESTYLE="SQL, DMY" (dd/mm/yyyy; as does a role's, database's or the
# server's DateStyle changed between two runs, or PGDATESTYLE set in one
# shell and not in the service); the resume has the server's default
# (ISO, MDY): a recorded key "05/03/2001" (5 March) reads as 3 May and the
# rows in between are never delivered (or, read earlier, twice: both seen,
# depending on where the kill lands).  No GUC that shapes a key's text is
# pinned on the bridge's connection: IntervalStyle can mis-parse the same
# way; TimeZone (timestamptz keys) and extra_float_digits change the text
# without mis-parsing it, which breaks the Kafka evidence match (the uncertain
# page's rows sent again).  Shown with
# Redis, because no Kafka backfill can start on main (303); the code is
# shared, and with Kafka the evidence keys mismatch as well.
# Fixed with 324: every backfill connection pins DateStyle ISO, IntervalStyle
# postgres and extra_float_digits 3 (backfill_sql.h BF_PINNED_SETTINGS).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bf_datestyle');
# only days 1-12: every key's dd/mm/yyyy text is also a valid mm/dd/yyyy
$node->safe_psql('postgres', q{
	CREATE TABLE djobs (d date PRIMARY KEY, v text NOT NULL);
	INSERT INTO djobs SELECT g::date, 'x'
	  FROM generate_series('2000-01-01'::date, '2060-12-31', '1 day') g
	 WHERE extract(day FROM g) <= 12;
});
my $total = $node->safe_psql('postgres', 'SELECT count(*) FROM djobs');
my $r = start_redis();
my @cmd = ('--slot', 'bfd', '--create-slot', '--backfill', '--backfill-batch', '10',
	'--tables', 'public.djobs');

{
	local $ENV{PGDATESTYLE} = 'SQL, DMY';
	my $b = start_bridge($node, $r, @cmd);
	ok(wait_until(sub { (redis($r, 'XLEN', 'public.djobs') || 0) >= 300 || !$b->{h}->pumpable }, 60),
		'run 1 (DateStyle SQL, DMY) backfilled some pages');
	stop_bridge($b, 'KILL');
}
my $mid = redis($r, 'XLEN', 'public.djobs');
cmp_ok($mid, '<', $total, "stopped mid-backfill ($mid of $total rows)");

my $b = start_bridge($node, $r, @cmd);
wait_until(sub { bridge_log($b) =~ /backfill.{0,40}(done|finished|complete)/i || !$b->{h}->pumpable }, 120);
sleep 1;
my $e = stream_entries($r, 'public.djobs');
my %seen;
# run 1 wrote dd/mm/yyyy, run 2 yyyy-mm-dd: the same date either way
for (@$e)
{
	my $d = $_->[1]{d};
	$d = "$3-$2-$1" if $d =~ m{^(\d\d)/(\d\d)/(\d{4})$};
	$seen{$d}++;
}
my $dup = grep { $_ > 1 } values %seen;
is(scalar(keys %seen), $total, "every one of the $total rows was backfilled");
is(scalar(@$e), $total, 'as many entries as rows');
is($dup, 0, 'none twice');
diag(grep { /ERROR|resuming/ } split /\n/, bridge_log($b));
stop_bridge($b) if $b->{h}->pumpable;
done_testing();
