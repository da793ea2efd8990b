/*
 * sql/wal2queue--1.0.sql -- the wal2queue extension, version 1.0
 *
 * Objects live in the schema wal2queue (created by CREATE EXTENSION, see
 * wal2queue.control).  Every function runs with the caller's privileges
 * (SECURITY INVOKER), so it can do nothing the caller could not do by hand,
 * and with a fixed search_path, except send() (hot path) and
 * create_job_table() (resolves an unqualified name like CREATE TABLE), which
 * qualify what they call instead.
 * docs/extension.md is the user documentation.
 *
 * Errors name the function and the argument and use SQLSTATE 22023
 * (invalid_parameter_value).
 */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION wal2queue" to load this file. \quit

/*
 * send(target, payload, key) -- enqueue one job without touching a table.
 *
 * The job is a transactional logical message with the prefix
 * 'wal2queue:' || target, followed by '#' || key when key is not NULL
 * (plugin/FORMAT.md, "Logical messages").  The plugin hands it on when the
 * transaction commits and never when it rolls back.  Only WAL is written: no
 * heap tuple, no index entry, nothing for vacuum.  Returns the LSN of the
 * message record.
 *
 * pg_logical_emit_message() is executable by PUBLIC and checks no privilege,
 * so send() needs none beyond USAGE on the schema.
 *
 * send() is on the hot path: it has no SET search_path clause (that would
 * roughly double its cost) and instead qualifies every function it calls.
 */
CREATE FUNCTION wal2queue.send(target text, payload text, key text DEFAULT NULL)
RETURNS pg_lsn
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    IF target IS NULL OR target = '' THEN
        RAISE EXCEPTION 'wal2queue.send: target must not be null or empty'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- the plugin reads the target up to the first '#', the key after it
    IF pg_catalog.strpos(target, '#') > 0 THEN
        RAISE EXCEPTION 'wal2queue.send: target must not contain "#"'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('The target was %L.', target);
    END IF;
    IF payload IS NULL THEN
        RAISE EXCEPTION 'wal2queue.send: payload must not be null'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    RETURN pg_catalog.pg_logical_emit_message(
        true, 'wal2queue:' || target || coalesce('#' || key, ''), payload);
END
$$;

COMMENT ON FUNCTION wal2queue.send(text, text, text) IS
'enqueue a job for TARGET (optionally keyed) as a transactional logical message; delivered at commit';

-- send() with a jsonb payload: the job carries the payload's text form
-- (no SET clause, so that the planner can inline it)
CREATE FUNCTION wal2queue.send(target text, payload jsonb, key text DEFAULT NULL)
RETURNS pg_lsn
LANGUAGE sql VOLATILE
AS $$
    SELECT wal2queue.send(target, payload::text, key)
$$;

COMMENT ON FUNCTION wal2queue.send(text, jsonb, text) IS
'enqueue a job with a jsonb payload (sent as its text form); delivered at commit';

/*
 * confirmed_xid_age(caller) -- the "confirmed by every slot" criterion shared
 * by prune() and maintain_partitions().
 *
 * A row is confirmed by every wal2queue slot of this database when
 * age(row.xmin) > confirmed_xid_age(), i.e. when its inserting transaction id
 * precedes the catalog_xmin of every such slot.  Why that is sound
 * (PostgreSQL 15, replication/logical/logical.c and snapbuild.c):
 *
 *  1. After creation, a slot's catalog_xmin moves only through
 *     LogicalConfirmReceivedLocation(): decoding an xl_running_xacts record
 *     at LSN L makes LogicalIncreaseXminForSlot() propose a candidate
 *     X <= the record's oldestRunningXid (lower still while the reorder
 *     buffer holds older snapshots) with candidate_xmin_lsn = L, and the
 *     candidate becomes catalog_xmin only once the client has confirmed a
 *     flush position >= L.
 *  2. Every xid below oldestRunningXid belongs to a transaction that had
 *     ended before L was written: xids are handed out in order, a transaction
 *     leaves the proc array only after its commit record is in WAL, and the
 *     record at L is inserted after the proc array was scanned.  So if such a
 *     transaction committed, its commit record precedes L <= confirmed flush
 *     position: the slot has streamed it and the client has confirmed it.
 *  3. A subtransaction's xid is assigned after its parent's and so is larger:
 *     a row inserted in a subtransaction has an xmin >= its top-level xid, so
 *     the top-level transaction precedes X as well and point 2 applies to it.
 *  4. At creation catalog_xmin is the oldest xid still running; transactions
 *     below it committed before the slot's start point, and the slot never
 *     delivers them: such rows count as done too (see docs/extension.md).
 *
 * age() measures both xids from the same transaction-stable reference, so
 * age(a) > age(b) is a wraparound-safe "a precedes b".  The special xids
 * (bootstrap, frozen) have age 2147483647 and are always old enough; a row
 * frozen by vacuum keeps its raw xmin, which compares correctly for 2^31
 * transactions and only looks young (is kept) after that.  With several slots
 * the oldest catalog_xmin (the largest age) is the bound.
 *
 * Returns NULL, after a NOTICE, when no row can be called confirmed: there is
 * no wal2queue slot in this database, or one has no catalog_xmin yet.
 */
CREATE FUNCTION wal2queue.confirmed_xid_age(caller text DEFAULT 'wal2queue.confirmed_xid_age')
RETURNS integer
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    nslots bigint;
    unset name;
    oldest integer;
BEGIN
    SELECT count(*),
           min(s.slot_name) FILTER (WHERE s.catalog_xmin IS NULL),
           max(age(s.catalog_xmin))
      INTO nslots, unset, oldest
      FROM pg_replication_slots s
     WHERE s.plugin = 'wal2queue' AND s.database = current_database();

    IF nslots = 0 THEN
        RAISE NOTICE '%: no wal2queue slot in database "%", so no job counts as confirmed',
            caller, current_database();
        RETURN NULL;
    END IF;
    IF unset IS NOT NULL THEN
        RAISE NOTICE '%: wal2queue slot "%" has no catalog_xmin yet, so no job counts as confirmed',
            caller, unset;
        RETURN NULL;
    END IF;
    RETURN oldest;
END
$$;

COMMENT ON FUNCTION wal2queue.confirmed_xid_age(text) IS
'rows with age(xmin) above this were confirmed by every wal2queue slot of this database; NULL if none can be';

/*
 * prune(job_table, batch) -- delete up to BATCH rows of JOB_TABLE that every
 * wal2queue slot of this database has confirmed (confirmed_xid_age()), and
 * return how many were deleted.  Never deletes a row some slot may still
 * deliver.  For a partitioned table it works through the leaf partitions; a
 * ctid is only unique within one of them.
 */
CREATE FUNCTION wal2queue.prune(job_table regclass, batch integer DEFAULT 10000)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bound integer;
    leaf regclass;
    deleted bigint;
    total bigint := 0;
BEGIN
    IF job_table IS NULL THEN
        RAISE EXCEPTION 'wal2queue.prune: job_table must not be null'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF batch IS NULL OR batch < 1 THEN
        RAISE EXCEPTION 'wal2queue.prune: batch must be at least 1'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The batch was %s.', coalesce(batch::text, 'null'));
    END IF;

    bound := wal2queue.confirmed_xid_age('wal2queue.prune');
    IF bound IS NULL THEN
        RETURN 0;
    END IF;

    -- the leaf partitions, oldest first; a plain table (no partition tree)
    -- is its own only leaf
    FOR leaf IN
        SELECT l.relid FROM (
            SELECT t.relid FROM pg_partition_tree(job_table) t WHERE t.isleaf
            UNION ALL
            SELECT job_table WHERE NOT EXISTS (SELECT FROM pg_partition_tree(job_table))
        ) l ORDER BY l.relid::oid
    LOOP
        EXIT WHEN total >= batch;
        EXECUTE format('DELETE FROM ONLY %1$s WHERE ctid = ANY (ARRAY('
                       'SELECT ctid FROM ONLY %1$s WHERE age(xmin) > $1 LIMIT $2))',
                       leaf)
            USING bound, batch - total;
        GET DIAGNOSTICS deleted = ROW_COUNT;
        total := total + deleted;
    END LOOP;
    RETURN total;
END
$$;

COMMENT ON FUNCTION wal2queue.prune(regclass, integer) IS
'delete up to BATCH rows of a job table that every wal2queue slot has confirmed; returns the count';

/*
 * partitions(job_table) -- the range partitions of JOB_TABLE with their
 * bounds (MINVALUE/MAXVALUE as -infinity/infinity); a DEFAULT partition is
 * not listed.  The bounds are read back from pg_get_expr() under a fixed
 * DateStyle, so they round-trip whatever the caller's settings.
 */
CREATE FUNCTION wal2queue.partitions(job_table regclass)
RETURNS TABLE (partition regclass, lower_bound timestamptz, upper_bound timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
SET datestyle = 'ISO, YMD'
AS $$
    SELECT b.oid::regclass,
           (CASE b.m[1] WHEN 'MINVALUE' THEN '-infinity' ELSE btrim(b.m[1], '''') END)::timestamptz,
           (CASE b.m[2] WHEN 'MAXVALUE' THEN 'infinity' ELSE btrim(b.m[2], '''') END)::timestamptz
      FROM (SELECT c.oid,
                   regexp_match(pg_get_expr(c.relpartbound, c.oid),
                                '^FOR VALUES FROM \((.*)\) TO \((.*)\)$') AS m
              FROM pg_inherits i
              JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = job_table) b
     WHERE b.m IS NOT NULL
     ORDER BY 2
$$;

COMMENT ON FUNCTION wal2queue.partitions(regclass) IS
'range partitions of a partitioned job table with their bounds';

/*
 * create_partitions(job_table, days_ahead) -- create the daily partitions
 * (UTC days) from today to today + DAYS_AHEAD that do not exist yet, named
 * <table>_pYYYYMMDD in the table's schema.  A day that overlaps an existing
 * partition is left alone.  Returns the partitions created.
 */
CREATE FUNCTION wal2queue.create_partitions(job_table regclass, days_ahead integer)
RETURNS SETOF regclass
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    nsp text;
    base text;
    day_start timestamptz;
    part text;
BEGIN
    SELECT n.nspname, c.relname INTO nsp, base
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = job_table;
    -- leave room for '_pYYYYMMDD' within the 63-byte identifier limit
    WHILE octet_length(base) > 53 LOOP
        base := left(base, -1);
    END LOOP;

    FOR day_start IN
        SELECT date_trunc('day', now(), 'UTC') + d * interval '1 day'
          FROM generate_series(0, days_ahead) d
    LOOP
        CONTINUE WHEN EXISTS (SELECT 1 FROM wal2queue.partitions(job_table) p
                               WHERE p.lower_bound < day_start + interval '1 day'
                                 AND p.upper_bound > day_start);
        part := format('%I.%I', nsp,
                       base || '_p' || to_char(day_start AT TIME ZONE 'UTC', 'YYYYMMDD'));
        EXECUTE format('CREATE TABLE %s PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                       part, job_table, day_start, day_start + interval '1 day');
        RETURN NEXT part::regclass;
    END LOOP;
END
$$;

COMMENT ON FUNCTION wal2queue.create_partitions(regclass, integer) IS
'create the missing daily (UTC) partitions of a job table from today to today + DAYS_AHEAD';

/*
 * create_job_table(name, partitioned) -- create the conventional insert-only
 * job table NAME (optionally schema-qualified, parsed as SQL identifiers:
 * quote to keep case or special characters) and return it.
 *
 * Partitioned: PARTITION BY RANGE (created_at), one partition per UTC day.
 * PostgreSQL requires the partition key in every unique constraint, so the
 * primary key is then (id, created_at); id alone stays unique in practice
 * (it comes from one sequence) but is not enforced across partitions.
 * Today's and the next three days' partitions are created.
 */
CREATE FUNCTION wal2queue.create_job_table(name text, partitioned boolean DEFAULT false)
RETURNS regclass
LANGUAGE plpgsql VOLATILE
-- no SET search_path: an unqualified NAME goes to the caller's current_schema()
AS $$
DECLARE
    parts text[];
    qname text;
BEGIN
    IF name IS NULL THEN
        RAISE EXCEPTION 'wal2queue.create_job_table: name must not be null'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF partitioned IS NULL THEN
        RAISE EXCEPTION 'wal2queue.create_job_table: partitioned must not be null'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    BEGIN
        parts := pg_catalog.parse_ident(name);
    EXCEPTION WHEN invalid_parameter_value THEN
        parts := NULL;
    END;
    IF parts IS NULL OR pg_catalog.cardinality(parts) > 2 THEN
        RAISE EXCEPTION 'wal2queue.create_job_table: name must be a table name, optionally schema-qualified'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('The name was %L.', name);
    END IF;
    IF pg_catalog.cardinality(parts) = 1 THEN
        IF pg_catalog.current_schema() IS NULL THEN
            RAISE EXCEPTION 'wal2queue.create_job_table: no schema has been selected to create % in', name
                USING ERRCODE = 'invalid_schema_name';
        END IF;
        parts := ARRAY[pg_catalog.current_schema()::text] || parts;
    END IF;
    qname := pg_catalog.format('%I.%I', parts[1], parts[2]);

    EXECUTE pg_catalog.format(
        'CREATE TABLE %s ('
        'id bigserial, '
        'queue text NOT NULL, '
        'payload jsonb NOT NULL, '
        'created_at timestamptz NOT NULL DEFAULT now(), '
        'PRIMARY KEY (%s))%s',
        qname,
        CASE WHEN partitioned THEN 'id, created_at' ELSE 'id' END,
        CASE WHEN partitioned THEN ' PARTITION BY RANGE (created_at)' ELSE '' END);
    IF partitioned THEN
        PERFORM wal2queue.create_partitions(qname::regclass, 3);
    END IF;
    RETURN qname::regclass;
END
$$;

COMMENT ON FUNCTION wal2queue.create_job_table(text, boolean) IS
'create the conventional insert-only job table (id, queue, payload jsonb, created_at), optionally partitioned by day';

/*
 * maintain_partitions(job_table, days_ahead, keep_days) -- for a job table
 * made by create_job_table(..., true): create the partitions for today ..
 * today + DAYS_AHEAD, and drop the partitions that end KEEP_DAYS or more days
 * before today (UTC) whose every row every wal2queue slot has confirmed
 * (confirmed_xid_age(), the criterion of prune()).  Old partitions that still
 * hold an unconfirmed row are kept.  Returns one row per partition acted on:
 * ('created' | 'dropped' | 'kept', its name).
 *
 * Each old partition is locked in SHARE ROW EXCLUSIVE mode before it is
 * checked: that waits for transactions still inserting into it and blocks
 * new inserts, so the check sees every row the DROP would remove.
 */
CREATE FUNCTION wal2queue.maintain_partitions(job_table regclass,
                                              days_ahead integer DEFAULT 3,
                                              keep_days integer DEFAULT 7)
RETURNS TABLE (action text, partition_name text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bound integer;
    part regclass;
    part_name text;
    pending boolean;
    checked boolean := false;   -- bound computed (only once there is an old partition)
BEGIN
    IF job_table IS NULL THEN
        RAISE EXCEPTION 'wal2queue.maintain_partitions: job_table must not be null'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF (SELECT c.relkind FROM pg_class c WHERE c.oid = job_table) <> 'p'
       OR pg_get_partkeydef(job_table) <> 'RANGE (created_at)' THEN
        RAISE EXCEPTION 'wal2queue.maintain_partitions: job_table must be partitioned by range (created_at)'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The table was %s.', job_table);
    END IF;
    IF days_ahead IS NULL OR days_ahead < 0 THEN
        RAISE EXCEPTION 'wal2queue.maintain_partitions: days_ahead must be at least 0'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF keep_days IS NULL OR keep_days < 0 THEN
        RAISE EXCEPTION 'wal2queue.maintain_partitions: keep_days must be at least 0'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    FOR part IN SELECT * FROM wal2queue.create_partitions(job_table, days_ahead) LOOP
        RETURN QUERY SELECT 'created', part::text;
    END LOOP;

    FOR part IN
        SELECT p.partition FROM wal2queue.partitions(job_table) p
         WHERE p.upper_bound <= date_trunc('day', now(), 'UTC') - keep_days * interval '1 day'
    LOOP
        IF NOT checked THEN
            bound := wal2queue.confirmed_xid_age('wal2queue.maintain_partitions');
            checked := true;
        END IF;
        pending := true;
        IF bound IS NOT NULL THEN
            EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', part);
            EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE NOT age(xmin) > $1)', part)
                INTO pending USING bound;
        END IF;
        part_name := part::text;
        IF pending THEN
            RETURN QUERY SELECT 'kept', part_name;
        ELSE
            EXECUTE format('DROP TABLE %s', part_name);
            RETURN QUERY SELECT 'dropped', part_name;
        END IF;
    END LOOP;
END
$$;

COMMENT ON FUNCTION wal2queue.maintain_partitions(regclass, integer, integer) IS
'create upcoming daily partitions of a job table and drop old ones whose rows every wal2queue slot has confirmed';

/*
 * status -- one row per wal2queue slot (of any database): how far behind the
 * bridge is and how much WAL the slot holds back.
 *   lag_bytes       WAL written but not yet confirmed (current LSN - confirmed_flush_lsn)
 *   retained_bytes  WAL kept for the slot (current LSN - restart_lsn)
 *   wal_status, safe_wal_size  as in pg_replication_slots
 */
CREATE VIEW wal2queue.status AS
SELECT s.slot_name,
       s.active,
       s.active_pid,
       s.confirmed_flush_lsn,
       pg_catalog.pg_current_wal_lsn() - s.confirmed_flush_lsn AS lag_bytes,
       pg_catalog.pg_current_wal_lsn() - s.restart_lsn AS retained_bytes,
       s.wal_status,
       s.safe_wal_size,
       s.database
  FROM pg_catalog.pg_replication_slots s
 WHERE s.plugin = 'wal2queue';

COMMENT ON VIEW wal2queue.status IS
'one row per wal2queue replication slot: activity, confirmed position, lag and retained WAL';
