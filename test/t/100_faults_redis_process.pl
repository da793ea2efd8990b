# The fault matrix, Redis, faults of the bridge process: none (baseline),
# kill -9 repeatedly, SIGTERM, SIGSTOP past wal_sender_timeout, a --standby
# bridge taking over under load.  See test/faults/README.md;
# W2Q_FAULTS=short|full (else skipped), W2Q_FAULTS_CELLS=REGEX for some cells.
use strict;
use warnings;
use Test::More;
use W2QFaults;
use W2QFaultsAck;

my $node = faults_node('faults_redis_process');
my $sink = redis_sink();
process_cells($node, $sink);
single_job_kill_cell($node, $sink);
sink_stop($sink);
$node->stop;
done_testing();
