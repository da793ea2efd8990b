# The fault matrix, Redis, faults of PostgreSQL: the walsender terminated,
# a fast and an immediate restart.
# See test/faults/README.md; W2Q_FAULTS=short|full (else skipped),
# W2Q_FAULTS_CELLS=REGEX for some cells only.
use strict;
use warnings;
use Test::More;
use W2QFaults;

my $node = faults_node("faults_redis_pg");
my $sink = redis_sink();
postgres_cells($node, $sink);
sink_stop($sink);
$node->stop;
done_testing();
