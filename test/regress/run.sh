#!/usr/bin/env bash
# test/regress/run.sh -- run the pg_regress suites (sql/ + expected/) against
# a throwaway cluster with wal_level=logical and wal2queue allow-listed.
# The plugin and extension must be installed (make install).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/cluster.sh"

tmp=$(mktemp -d /tmp/wal2queue-regress.XXXXXX)
chmod 755 "$tmp"
trap 'w2q_pg_stop "$tmp"; [ -n "${W2Q_KEEP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"' EXIT
w2q_pg_start "$tmp"

tests=$(cd "$here/sql" && ls *.sql | sed 's/\.sql$//' | sort)
pg_regress=$(dirname "$(pg_config --pgxs)")/../test/regress/pg_regress
cp -r "$here/sql" "$here/expected" "$tmp/"
[ "$(id -u)" = 0 ] && chown -R postgres "$tmp"
# shellcheck disable=SC2086
w2q_as_pg "$pg_regress" --inputdir="$tmp" --outputdir="$tmp" \
	--bindir="$W2Q_PGBIN" --host="$W2Q_PGHOST" --port="$W2Q_PGPORT" \
	--dbname=contrib_regression $tests
rc=$?
if [ $rc -ne 0 ] && [ -f "$tmp/regression.diffs" ]; then
	cat "$tmp/regression.diffs"
	cp "$tmp/regression.diffs" "$here/regression.diffs" 2>/dev/null
fi
exit $rc
