#!/usr/bin/env bash
# test/tap/run.sh -- the integration suites (test/t/*.pl): PostgreSQL's TAP
# framework (PostgreSQL::Test::Cluster) with real postgres and redis-server
# started by each test.  As root, the tests run as the postgres user, since
# initdb and postgres refuse root.
#   test/tap/run.sh [test/t/NNN_name.pl ...]
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
pgxs=$(dirname "$(pg_config --pgxs)")/..

tmp=$(mktemp -d /tmp/wal2queue-tap.XXXXXX)
chmod 755 "$tmp"
[ "$(id -u)" = 0 ] && chown postgres "$tmp"
trap '[ -n "${W2Q_KEEP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"' EXIT

if [ $# -eq 0 ]; then
	set -- "$root"/test/t/*.pl
fi
tests=()
for t in "$@"; do tests+=("$(realpath "$t")"); done

# A fast shutdown waits until every logical walsender has sent all WAL and
# its client confirmed it: a test that restarts PostgreSQL mid-backlog waits
# for the bridge to drain it, longer than pg_ctl's default 60 s under load.
run=()
[ "$(id -u)" = 0 ] && run=(runuser -u postgres --)
cd "$tmp" && "${run[@]}" env PATH="$(pg_config --bindir):$PATH" \
	PERL5LIB="$pgxs/test/perl:$root/test/t/lib" \
	PG_REGRESS="$pgxs/test/regress/pg_regress" \
	TESTDIR="$tmp" \
	PGCTLTIMEOUT="${PGCTLTIMEOUT:-300}" \
	W2Q_BRIDGE="${W2Q_BRIDGE:-$root/bridge/wal2queue-bridge}" \
	W2Q_ROOT="$root" \
	W2Q_BRIDGE_BIN="${W2Q_BRIDGE_BIN:-}" W2Q_SANITIZE="${W2Q_SANITIZE:-}" \
	ASAN_OPTIONS="${ASAN_OPTIONS:-}" \
	prove --timer ${PROVE_FLAGS:-} "${tests[@]}"
