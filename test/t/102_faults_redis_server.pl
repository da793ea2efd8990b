# The fault matrix, Redis, faults of the Redis server: kill -9 and restart
# with appendfsync always, BUSY, OOM then memory raised, CLIENT KILL;
# without persistence a kill must be detected.
# See test/faults/README.md; W2Q_FAULTS=short|full (else skipped),
# W2Q_FAULTS_CELLS=REGEX for some cells only.
use strict;
use warnings;
use Test::More;
use W2QFaults;

my $node = faults_node("faults_redis_server");
redis_cells($node);
$node->stop;
done_testing();
