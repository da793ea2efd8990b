# The fault matrix, Kafka (librdkafka mock cluster of 3 brokers), faults
# of the brokers: all down and up, partition leaders moved.
# See test/faults/README.md; W2Q_FAULTS=short|full (else skipped),
# W2Q_FAULTS_CELLS=REGEX for some cells only.
use strict;
use warnings;
use Test::More;
use W2QFaults;

my $node = faults_node("faults_kafka_broker");
my $sink = kafka_sink(3);
kafka_cells($node, $sink);
sink_stop($sink);
$node->stop;
done_testing();
