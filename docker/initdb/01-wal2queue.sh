#!/bin/sh
# Runs once, when the postgres container initialises an empty data directory
# (/docker-entrypoint-initdb.d): the extension, the job table public.jobs and
# the bridge's role (LOGIN REPLICATION, no superuser; see docs/extension.md).
# The image's pg_hba.conf line "host all all all scram-sha-256" admits the
# bridge: a replication=database connection matches the database column.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     --set=bridge_password="${WAL2QUEUE_BRIDGE_PASSWORD:?WAL2QUEUE_BRIDGE_PASSWORD is not set}" <<'SQL'
CREATE EXTENSION wal2queue;
SELECT wal2queue.create_job_table('public.jobs');
CREATE ROLE wal2queue_bridge LOGIN REPLICATION PASSWORD :'bridge_password';
GRANT USAGE ON SCHEMA wal2queue TO wal2queue_bridge;
GRANT SELECT ON wal2queue.status TO wal2queue_bridge;
SQL
