#!/usr/bin/env bash
# test/regress/run.sh -- run the pg_regress suites (sql/ + expected/) against
# a throwaway cluster with wal_level=logical and wal2queue allow-listed.
# The plugin and extension must be installed (make install); ext_standalone
# installs the extension script of this tree (sql/src) without CREATE
# EXTENSION.
#   W2Q_REGRESS_SUITES  glob of the suites to run (default: all), e.g. 'plugin_*';
#                       00_setup always runs first
#   W2Q_REGRESS_CONF    settings appended to postgresql.conf, separated by
#                       newlines or ';' (the server is restarted),
#                       e.g. 'debug_discard_caches = 1' or a dynamic_library_path
#                       to test a plugin build before installing it
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/cluster.sh"

tmp=$(mktemp -d /tmp/wal2queue-regress.XXXXXX)
chmod 755 "$tmp"
trap 'w2q_pg_stop "$tmp"; [ -n "${W2Q_KEEP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"' EXIT
w2q_pg_start "$tmp"
if [ -n "${W2Q_REGRESS_CONF:-}" ]; then
	printf '%s\n' "$W2Q_REGRESS_CONF" | tr ';' '\n' >>"$tmp/data/postgresql.conf"
	w2q_as_pg "$W2Q_PGBIN/pg_ctl" -D "$tmp/data" -l "$tmp/postgres.log" -w \
		-t 60 restart >/dev/null || { cat "$tmp/postgres.log"; exit 1; }
fi

suites=${W2Q_REGRESS_SUITES:-*}
# shellcheck disable=SC2086
tests=$(cd "$here/sql" && { echo 00_setup.sql; ls $suites.sql; } | sed 's/\.sql$//' | sort -u)
pg_regress=$(dirname "$(pg_config --pgxs)")/../test/regress/pg_regress
cp -r "$here/sql" "$here/expected" "$tmp/"
# the standalone install script, built from this tree's extension script,
# for ext_standalone (it reads W2Q_STANDALONE_SQL)
"$here/../../sql/make-standalone.sh" "$tmp/sql/wal2queue-standalone.sql" \
	"$here"/../../sql/src/*.sql || exit 1
export W2Q_STANDALONE_SQL="$tmp/sql/wal2queue-standalone.sql"
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
