# The fault matrix, Kafka (librdkafka mock cluster), faults of the source:
# a second slot writing the same topics (the second bridge must stop
# naming another source), the server replaced behind the conninfo, a
# physical standby promoted.
# See test/faults/README.md; W2Q_FAULTS=short|full (else skipped),
# W2Q_FAULTS_CELLS=REGEX for some cells only.
use strict;
use warnings;
use Test::More;
use W2QFaults;
use W2QFaultsLagging;

my $node = faults_node("faults_kafka_source");
my $sink = kafka_sink(1);
second_slot_cell($node, $sink);
$node->stop;
replaced_server_cell($sink);
promoted_standby_cell($sink);
lagging_standby_cell($sink);
sink_stop($sink);
done_testing();
