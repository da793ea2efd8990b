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

# All of them: the longest first (test/tap/slow-first.txt, from a run's
# timings), so that with TAP_JOBS at a time no long test starts last and
# runs alone at the end; then the rest in order.
if [ $# -eq 0 ]; then
	first=()
	while read -r name; do
		case $name in ''|'#'*) continue ;; esac
		[ -f "$root/test/t/$name" ] && first+=("$root/test/t/$name")
	done < "$here/slow-first.txt"
	rest=()
	for t in "$root"/test/t/*.pl; do
		case " ${first[*]} " in *" $t "*) ;; *) rest+=("$t") ;; esac
	done
	set -- "${first[@]}" "${rest[@]}"
	# W2Q_TAP_SKIP: files naming suites to leave out, separated by blanks
	# (make check-asan: test/tap/no-bridge.txt, the suites that never start
	# the bridge, and test/tap/asan-skip.txt)
	if [ -n "${W2Q_TAP_SKIP:-}" ]; then
		keep=()
		for t in "$@"; do
			# shellcheck disable=SC2086 # a list of files
			grep -qxF "$(basename "$t")" $W2Q_TAP_SKIP || keep+=("$t")
		done
		set -- "${keep[@]}"
	fi
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
