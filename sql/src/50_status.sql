-- sql/src/50_status.sql -- the status view
-- (part of the wal2queue extension script: see 00_install.sql)

/*
 * status -- one row per wal2queue slot (of any database) and per slot of
 * another plugin (pgoutput) registered in this database: how far behind the
 * bridge is and how much WAL the slot holds back, measured from the current
 * WAL position (on a standby: the last replayed position).
 *   lag_bytes       WAL written but not yet confirmed (current LSN - confirmed_flush_lsn)
 *   retained_bytes  WAL kept for the slot (current LSN - restart_lsn)
 *   wal_status, safe_wal_size  as in pg_replication_slots
 */
CREATE VIEW wal2queue.status AS
SELECT s.slot_name,
       s.active,
       s.active_pid,
       s.confirmed_flush_lsn,
       w.lsn - s.confirmed_flush_lsn AS lag_bytes,
       w.lsn - s.restart_lsn AS retained_bytes,
       s.wal_status,
       s.safe_wal_size,
       s.database
  FROM pg_catalog.pg_replication_slots s,
       LATERAL (SELECT CASE WHEN pg_catalog.pg_is_in_recovery()
                            THEN pg_catalog.pg_last_wal_replay_lsn()
                            ELSE pg_catalog.pg_current_wal_lsn() END AS lsn) w
 WHERE s.plugin = 'wal2queue'
    OR (s.database = pg_catalog.current_database()
        AND EXISTS (SELECT FROM wal2queue.slots r WHERE r.slot_name OPERATOR(pg_catalog.=) s.slot_name));

COMMENT ON VIEW wal2queue.status IS
'one row per wal2queue replication slot: activity, confirmed position, lag and retained WAL';
