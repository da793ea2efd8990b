# The Kafka backfill cannot start at all on main since d024c20 (merge
# fixbf).  The creation marker (backfill.c mark_creating: a state with
# lsn 0, no rows, written before the slot is created) goes to the sink's
# backfill_batch, and kafka_backfill.c kafka_backfill_batch refuses any
# state without a consistent point: "kafka sink: a backfill without a
# consistent point", exit 1, before a single row.  test/t/036 and 033 (the
# Kafka backfill and its migration guide) start the same way, --create-slot
# --backfill: test/t/036 fails on main (every run: "a backfill without a
# consistent point"; 033 not re-run); this is the smallest case: one table
# of 5 rows, the documented command line.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $k = start_kafka_mock(1);
my $bs = $k->{bootstrap};
my $node = new_node('bf_marker');
$node->safe_psql('postgres', q{
	CREATE TABLE mjobs (id int PRIMARY KEY, v text NOT NULL);
	INSERT INTO mjobs SELECT g, 'x' FROM generate_series(1, 5) g;
});
my $b = start_bridge($node, undef, '--slot', 'bfm', '--create-slot', '--backfill',
	'--tables', 'public.mjobs', '--sink', "kafka://$bs");
sub delivered
{
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'kcat', '-b', $bs, '-C', '-t', 'public.mjobs', '-o', 'beginning', '-e', '-q',
		'-f', '%k\n' ], '>', \$out, '2>', \$err, IPC::Run::timeout(30));
	return scalar grep { /\S/ } split /\n/, $out;
}
my $n = 0;
wait_until(sub { ($n = delivered()) >= 5 || !$b->{h}->pumpable }, 60);
ok($b->{h}->pumpable, 'the bridge runs');
is($n, 5, 'the 5 rows are backfilled into public.mjobs');
unlike(bridge_log($b), qr/a backfill without a consistent point/, 'no refusal of the creation marker');
$b->{h}->signal('TERM') if $b->{h}->pumpable;
$b->{h}->finish;
stop_kafka_mock($k);
done_testing();
