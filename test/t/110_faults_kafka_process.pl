# The fault matrix, Kafka (librdkafka mock cluster), faults of the bridge
# process: none (baseline), kill -9 repeatedly, SIGTERM, SIGSTOP past
# wal_sender_timeout, a --standby bridge taking over under load.  The mock
# neither fences zombie producers nor hides aborted transactions from
# kcat, so a cell may see what a real cluster would hide: the verifier
# reads everything.
# See test/faults/README.md; W2Q_FAULTS=short|full (else skipped),
# W2Q_FAULTS_CELLS=REGEX for some cells only.
use strict;
use warnings;
use Test::More;
use W2QFaults;
use W2QFaultsAck;

my $node = faults_node("faults_kafka_process");
my $sink = kafka_sink(3);
process_cells($node, $sink);
single_job_kill_cell($node, $sink);
sink_stop($sink);
$node->stop;
done_testing();
