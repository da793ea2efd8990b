#!/bin/sh
# sql/make-standalone.sh OUT PART... -- build the standalone install script
# OUT (for servers that cannot CREATE EXTENSION: managed PostgreSQL) from
# the parts of the extension script (sql/src/*.sql, in order), the one
# source of both.  What CREATE EXTENSION does
# around the script is done here: the psql guard (\echo ... \quit) goes,
# the schema wal2queue is created (the control file's schema = wal2queue),
# and everything runs in one transaction that refuses a second install.
set -eu
out=$1
shift
src=$(mktemp)
trap 'rm -f "$src"' EXIT
cat "$@" >"$src"

# the script must not use what only CREATE EXTENSION provides
if grep -q '@extschema@\|@extowner@\|pg_extension_config_dump' "$src"; then
	echo "make-standalone.sh: the extension script uses something only CREATE EXTENSION provides" >&2
	exit 1
fi
if [ "$(grep -c '^\\echo Use "CREATE EXTENSION wal2queue"' "$src")" != 1 ]; then
	printf "make-standalone.sh: the extension script lacks its \\\\echo guard line\\n" >&2
	exit 1
fi

{
	cat <<'HEAD'
-- wal2queue-standalone.sql -- the wal2queue extension's objects without
-- CREATE EXTENSION, for servers that allow no extension from files (Amazon
-- RDS and Aurora, Azure Database for PostgreSQL, Google Cloud SQL, AlloyDB).
-- Built by `make -C sql standalone` from sql/src/*.sql, the parts of the
-- extension script; do not edit.
--
-- Install, as a role that owns the database (or has CREATE on it) and has
-- CREATEROLE (the service's administrator role), in every database whose
-- jobs wal2queue carries:
--     psql -v ON_ERROR_STOP=1 -d app -f wal2queue-standalone.sql
-- A second run, or a run where the extension is installed, is refused and
-- changes nothing.  docs/managed.md says which statement needs what.
--
-- Uninstall:
--     DROP SCHEMA wal2queue CASCADE;
-- (the slot registry goes with it; the role wal2queue_sender, shared by
-- all databases, and the privileges of pg_logical_emit_message() stay.)
\set ON_ERROR_STOP on
BEGIN;

DO $standalone$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'wal2queue') THEN
        RAISE EXCEPTION 'the wal2queue extension is installed in database "%"', pg_catalog.current_database()
            USING ERRCODE = 'duplicate_object',
                  HINT = 'This file is for servers that cannot CREATE EXTENSION; the extension already provides everything in it.';
    END IF;
    IF pg_catalog.to_regnamespace('wal2queue') IS NOT NULL THEN
        RAISE EXCEPTION 'schema "wal2queue" already exists in database "%": wal2queue is installed already, or another schema has its name',
            pg_catalog.current_database()
            USING ERRCODE = 'duplicate_schema',
                  HINT = 'Nothing was changed.  To install again, keep a copy of wal2queue.slots, DROP SCHEMA wal2queue CASCADE, run this file and register the slots again.';
    END IF;
END
$standalone$;

CREATE SCHEMA wal2queue;

HEAD
	sed -e '/^\\echo Use "CREATE EXTENSION wal2queue"/d' \
		-e 's/^-- complain if script is sourced in psql, rather than via CREATE EXTENSION$/-- (the extension script'"'"'s psql guard is left out here)/' "$src"
	printf '\nCOMMIT;\n'
} >"$out.tmp"
mv "$out.tmp" "$out"
