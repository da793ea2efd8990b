-- sql/src/40_job_tables.sql -- job tables and their daily partitions
-- (part of the wal2queue extension script: see 00_install.sql)

/*
 * partitions(job_table) -- the range partitions of JOB_TABLE with their
 * bounds (MINVALUE/MAXVALUE as -infinity/infinity); a DEFAULT partition is
 * not listed.  DETACH_PENDING is true for a partition whose DETACH ...
 * CONCURRENTLY did not finish (pg_inherits.inhdetachpending): it still
 * holds its bounds, but the plugin reports rows inserted into it under its
 * own name, not the job table's, so its rows are not the job table's to
 * judge (maintain_partitions() leaves it alone).  The bounds are read back from pg_get_expr() under a fixed
 * DateStyle, so they round-trip whatever the caller's settings.
 */
CREATE FUNCTION wal2queue.partitions(job_table regclass)
RETURNS TABLE (partition regclass, lower_bound timestamptz, upper_bound timestamptz,
               detach_pending boolean)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
SET datestyle = 'ISO, YMD'
AS $$
    SELECT b.oid::regclass,
           (CASE b.m[1] WHEN 'MINVALUE' THEN '-infinity' ELSE btrim(b.m[1], '''') END)::timestamptz,
           (CASE b.m[2] WHEN 'MAXVALUE' THEN 'infinity' ELSE btrim(b.m[2], '''') END)::timestamptz,
           b.inhdetachpending
      FROM (SELECT c.oid, i.inhdetachpending,
                   regexp_match(pg_get_expr(c.relpartbound, c.oid),
                                '^FOR VALUES FROM \((.*)\) TO \((.*)\)$') AS m
              FROM pg_inherits i
              JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = job_table) b
     WHERE b.m IS NOT NULL
     ORDER BY 2
$$;

COMMENT ON FUNCTION wal2queue.partitions(regclass) IS
'range partitions of a partitioned job table with their bounds, and whether a DETACH CONCURRENTLY is pending';

/*
 * default_holds_day(job_table, day_start) -- does the DEFAULT partition of
 * JOB_TABLE hold a row of the UTC day from DAY_START (partition key in
 * [DAY_START, DAY_START + 1 day))?  Then PostgreSQL refuses a partition
 * for that day ("updated partition constraint for default partition ...
 * would be violated"), which would abort create_partitions() and
 * maintain_partitions() at every run: a WARNING names the rows' range and
 * the DEFAULT partition, and says how to move them.  False without a
 * DEFAULT partition, and for a partition key of more than one column (the
 * CREATE then decides).  Read as the caller (create_partitions() refused a
 * table of another owner unless in its session: owner_session()) with row_security
 * off, so that no policy hides a row ATTACH would find: a caller subject
 * to a policy of the table (no superuser, no BYPASSRLS, not its owner or
 * the table FORCEs it) cannot tell, and NULL is returned with a WARNING
 * (the day is left alone: test/t/516).
 */
CREATE FUNCTION wal2queue.default_holds_day(job_table regclass, day_start timestamptz)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET datestyle = 'ISO, YMD'
SET timezone = 'UTC'
SET row_security = off
AS $$
DECLARE
    def regclass;
    keycol text;
    held boolean;
BEGIN
    SELECT NULLIF(p.partdefid, 0)::regclass, a.attname
      INTO def, keycol
      FROM pg_partitioned_table p
      JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
     WHERE p.partrelid = job_table AND p.partnatts = 1;
    IF def IS NULL THEN
        RETURN false;
    END IF;
    -- with row_security off a policy that applies to the caller makes the
    -- query fail instead of hiding rows (its quals do not run)
    BEGIN
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s t WHERE t.tableoid = $3 AND t.%I >= $1 AND t.%I < $2)',
                       job_table, keycol, keycol)
            INTO held USING day_start, day_start + interval '1 day', def::oid;
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE WARNING 'wal2queue.create_partitions: cannot tell whether the DEFAULT partition % of table % holds rows from % to %, so no partition was created for that day',
            def, job_table, day_start, day_start + interval '1 day'
            USING DETAIL = format('%s (row-level security applies to role %s, and a row a policy hides would make ATTACH fail).', SQLERRM, current_user),
                  HINT = 'Run it as a superuser, a role with BYPASSRLS, or the table''s owner when the table does not FORCE ROW LEVEL SECURITY.';
        RETURN NULL;
    END;
    IF held THEN
        RAISE WARNING 'wal2queue.create_partitions: the DEFAULT partition % holds rows of table % with % from % to %, so no partition was created for that day',
            def, job_table, keycol, day_start, day_start + interval '1 day'
            USING DETAIL = 'PostgreSQL refuses a partition for rows the DEFAULT partition holds; the day''s rows go to the DEFAULT partition meanwhile.',
                  HINT = format('To give the day its partition, move those rows in one transaction: ALTER TABLE %1$s DETACH PARTITION %2$s; CREATE TABLE ... PARTITION OF %1$s for the day; INSERT INTO %1$s SELECT * FROM %2$s WHERE %3$I >= %4$L AND %3$I < %5$L; DELETE FROM %2$s WHERE %3$I >= %4$L AND %3$I < %5$L; ALTER TABLE %1$s ATTACH PARTITION %2$s DEFAULT.  The rows inserted again are new jobs: a slot delivers them again.',
                                job_table, def, keycol, day_start, day_start + interval '1 day');
    END IF;
    RETURN held;
END
$$;

/*
 * try_lock(tbl, lock_mode, descend, wait) -- take LOCK_MODE (a lock mode's
 * name, as LOCK TABLE spells it) on TBL, and with DESCEND on the tables
 * below it too, waiting at most a second (lock_timeout, set for this call
 * only) or, without WAIT, not at all (NOWAIT): true when taken, false when
 * another transaction holds a conflicting lock.  No WARNING: the caller
 * says what it leaves undone.  The lock is kept until the transaction
 * ends (the BEGIN ... EXCEPTION block's subtransaction takes no xid and
 * passes its locks on).
 */
CREATE FUNCTION wal2queue.try_lock(tbl regclass, lock_mode text, descend boolean, wait boolean)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '1s'
AS $$
BEGIN
    IF tbl IS NULL OR descend IS NULL OR wait IS NULL THEN
        RAISE EXCEPTION 'wal2queue.try_lock: tbl, descend and wait must not be null'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF lock_mode IS NULL OR lock_mode NOT IN ('ACCESS SHARE', 'ROW SHARE', 'ROW EXCLUSIVE',
                                              'SHARE UPDATE EXCLUSIVE', 'SHARE', 'SHARE ROW EXCLUSIVE',
                                              'EXCLUSIVE', 'ACCESS EXCLUSIVE') THEN
        RAISE EXCEPTION 'wal2queue.try_lock: lock_mode must be the name of a table lock mode'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The lock_mode was %s.', coalesce(quote_literal(lock_mode), 'null'));
    END IF;
    BEGIN
        EXECUTE format('LOCK TABLE %s%s IN %s MODE%s', CASE WHEN descend THEN '' ELSE 'ONLY ' END,
                       tbl, lock_mode, CASE WHEN wait THEN '' ELSE ' NOWAIT' END);
    EXCEPTION WHEN lock_not_available OR deadlock_detected THEN
        RETURN false;
    END;
    RETURN true;
END
$$;

/*
 * create_partitions(job_table, days_ahead) -- create the daily partitions
 * (UTC days) from today to today + DAYS_AHEAD that do not exist yet, named
 * <table>_pYYYYMMDD in the table's schema (a table name longer than 53
 * bytes is cut to 44 and given '_' and 8 hex digits of its md5, so that
 * the name fits in 63 bytes and stays its own).  A day that overlaps an existing
 * partition is left alone, and so is a day the DEFAULT partition holds rows
 * of (default_holds_day(): a WARNING names it).  A name already taken by
 * another relation (a role that may CREATE in the schema) gets a WARNING
 * naming it, and the day's partition is created as <table cut to 44
 * bytes>_pYYYYMMDD_<8 random hex digits> (test/t/410).  Returns the
 * partitions created.
 *
 * No ACCESS EXCLUSIVE lock on the table (CREATE TABLE ... PARTITION OF
 * takes one, which every reader of the table blocks: test/t/437): each day
 * is created as a table of its own (LIKE the table: columns, defaults,
 * generated columns, CHECK constraints, storage, compression; the table's
 * tablespace), then attached (ALTER TABLE ... ATTACH PARTITION), which
 * takes SHARE UPDATE EXCLUSIVE on the table, a lock neither readers nor
 * writers conflict with, and clones the indexes, row triggers (the
 * append-only guard) and foreign keys as PARTITION OF does; it scans the
 * new table, which is empty.  That lock, and the DEFAULT partition's
 * ACCESS EXCLUSIVE lock an ATTACH also takes, are taken first, waiting at
 * most a second: when another transaction holds them (a VACUUM or CREATE
 * INDEX of the table, a reader of the DEFAULT partition, another
 * maintain_partitions()) a WARNING says the table is busy and nothing is
 * created (the next run does it).  ATTACH also locks the tables of the
 * table's foreign keys (referenced and referencing, SHARE ROW EXCLUSIVE):
 * it runs under lock_timeout 1s (10ms when the transaction holds the
 * table's ACCESS EXCLUSIVE lock already), and a lock not had leaves that
 * day, its table not created, and the later days to the next run with a
 * WARNING (test/t/481).
 *
 * Everything runs as the caller, and with it the table owner's code: a
 * table (or its DEFAULT partition) whose owner is no superuser is acted on
 * only in a session of its owner, else skipped with a WARNING
 * (owner_session(): test/t/489, 511, 519, 522, 525), never run under SET
 * ROLE to its owner, which the owner's code could undo (and which a
 * SECURITY DEFINER wrapper may not do: test/t/513).  So the caller is the
 * owner, whose CREATE TABLE makes the day its own, or a superuser, who
 * gives each day to the table's owner (ALTER TABLE ... OWNER TO: test/t/514,
 * 523); a caller with neither fails at ATTACH.
 *
 * The event trigger records each ATTACH in a subtransaction of its own (guard_on_alter(): an attached table is
 * guarded only from then on), so more than 64 days created in one
 * transaction overflow the backend's subxid cache until it ends.
 *
 * The bounds are written as text into CREATE TABLE: DateStyle and TimeZone
 * are pinned (ISO, UTC) so that the text is the same instant whatever the
 * caller's settings (with DateStyle=Postgres and TimeZone=Asia/Kolkata a
 * bound would read "... IST", which PostgreSQL takes for Israel time).
 */
CREATE FUNCTION wal2queue.create_partitions(job_table regclass, days_ahead integer)
RETURNS SETOF regclass
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET datestyle = 'ISO, YMD'
SET timezone = 'UTC'
AS $$
DECLARE
    nsp text;
    base text;
    short text;
    suffix text;
    day_start timestamptz;
    part text;
    spc text;
    def regclass;
    locked boolean := false;
    created regclass[] := '{}';
    owner name;
    give boolean;
    held boolean;
    saved_timeout text := current_setting('lock_timeout');
BEGIN
    IF job_table IS NULL THEN
        RAISE EXCEPTION 'wal2queue.create_partitions: job_table must not be null'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF days_ahead IS NULL OR days_ahead < 0 THEN
        RAISE EXCEPTION 'wal2queue.create_partitions: days_ahead must be at least 0'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The days_ahead was %s.', coalesce(days_ahead::text, 'null'));
    END IF;
    SELECT n.nspname, c.relname, pg_get_userbyid(c.relowner) INTO nsp, base, owner
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = job_table;
    -- the owner's code runs as the caller: only in a session of the owner,
    -- or for a superuser's table (owner_session(); test/t/489); a
    -- relation that is not a table is refused.  The caller is then the
    -- owner or a superuser, which gives each day to the owner (test/t/514)
    IF NOT wal2queue.owner_session(job_table::regclass, 'wal2queue.create_partitions'::text) THEN
        RETURN;
    END IF;
    give := owner <> current_user AND pg_has_role(owner, 'MEMBER');
    -- a transaction that holds the table's ACCESS EXCLUSIVE lock already
    -- (maintain_partitions() after a DROP) waits for no other lock
    held := EXISTS (SELECT FROM pg_locks l
                     WHERE l.locktype = 'relation' AND l.relation = job_table::oid
                       AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
                       AND l.pid = pg_backend_pid() AND l.mode = 'AccessExclusiveLock' AND l.granted);
    -- leave room for '_pYYYYMMDD' within the 63-byte identifier limit; a
    -- name cut short ends in 8 hex digits of the md5 of the full name, so
    -- that tables sharing their first bytes get names of their own (a name
    -- of 53 bytes or less is kept whole, as before)
    IF octet_length(base) > 53 THEN
        suffix := '_' || left(md5(base), 8);
        WHILE octet_length(base) > 53 - octet_length(suffix) LOOP
            base := left(base, -1);
        END LOOP;
        base := base || suffix;
    END IF;

    IF NOT EXISTS (SELECT FROM generate_series(0, days_ahead) d
                    WHERE NOT EXISTS (SELECT FROM wal2queue.partitions(job_table::regclass) p
                                       WHERE p.lower_bound < date_trunc('day', now(), 'UTC') + (d + 1) * interval '1 day'
                                         AND p.upper_bound > date_trunc('day', now(), 'UTC') + d * interval '1 day')) THEN
        RETURN;
    END IF;
    -- the caller (the owner, or a superuser) creates each day in the
    -- table's schema: without CREATE there nothing can be (test/t/514)
    IF NOT has_schema_privilege(nsp, 'CREATE') THEN
        RAISE WARNING 'wal2queue.create_partitions: no partition of table % was created: role % lacks CREATE on schema %',
            job_table, current_user, nsp
            USING DETAIL = 'Each day''s partition is created as a table in the job table''s schema by the role that runs the maintenance.',
                  HINT = format('GRANT CREATE ON SCHEMA %I TO %I.', nsp, current_user);
        RETURN;
    END IF;
    -- the locks ATTACH PARTITION takes, none of which an INSERT or a
    -- reader of the table waits behind (the DEFAULT partition's: only its
    -- own readers and writers, for at most a second)
    -- (the DEFAULT partition is looked up once the table's lock keeps any
    -- other from being attached)
    IF wal2queue.try_lock(job_table::regclass, 'SHARE UPDATE EXCLUSIVE'::text, false, true) THEN
        SELECT NULLIF(p.partdefid, 0)::regclass INTO def
          FROM pg_partitioned_table p WHERE p.partrelid = job_table;
        -- the DEFAULT partition, which ATTACH scans and default_holds_day()
        -- reads, is judged by the same rule (its owner may be another
        -- role), before its lock could fail for want of its privileges
        IF def IS NOT NULL
           AND NOT wal2queue.owner_session(def, 'wal2queue.create_partitions'::text, job_table::regclass) THEN
            RETURN;
        END IF;
        locked := def IS NULL OR wal2queue.try_lock(def::regclass, 'ACCESS EXCLUSIVE'::text, true, NOT held);
    END IF;
    IF NOT locked THEN
        RAISE WARNING 'wal2queue.create_partitions: table % is busy: another transaction holds a lock on it', job_table
            USING DETAIL = format('No partition was created: attaching one needs the SHARE UPDATE EXCLUSIVE lock of table %s (a VACUUM, ANALYZE or CREATE INDEX of it holds it, or another maintain_partitions())%s.',
                                  job_table, CASE WHEN def IS NOT NULL
                                                  THEN format(' and the ACCESS EXCLUSIVE lock of its DEFAULT partition %s (any reader or writer of it holds it off)', def) ELSE '' END),
                  HINT = 'pg_locks shows who holds it. Run it again later.';
        RETURN;
    END IF;
    -- PARTITION OF puts a partition in the table's tablespace, if it has one
    SELECT ' TABLESPACE ' || quote_ident(t.spcname) INTO spc
      FROM pg_class c JOIN pg_tablespace t ON t.oid = c.reltablespace
     WHERE c.oid = job_table;

    FOR day_start IN
        SELECT date_trunc('day', now(), 'UTC') + d * interval '1 day'
          FROM generate_series(0, days_ahead) d
    LOOP
        CONTINUE WHEN EXISTS (SELECT 1 FROM wal2queue.partitions(job_table::regclass) p
                               WHERE p.lower_bound < day_start + interval '1 day'
                                 AND p.upper_bound > day_start);
        CONTINUE WHEN wal2queue.default_holds_day(job_table::regclass, day_start::timestamptz) IS NOT false;
        part := format('%I.%I', nsp,
                       base || '_p' || to_char(day_start AT TIME ZONE 'UTC', 'YYYYMMDD'));
        IF to_regclass(part) IS NOT NULL OR to_regtype(part) IS NOT NULL THEN
            -- the name is taken by a relation that is no partition of the day,
            -- or by a type (CREATE TABLE makes a row type of that name: 431),
            -- by a role that may CREATE in the schema: another name, which
            -- nobody can take in advance, so the day still gets its partition
            RAISE WARNING 'wal2queue.create_partitions: relation or type % already exists and is not the partition of % for %',
                part, job_table, to_char(day_start AT TIME ZONE 'UTC', 'YYYY-MM-DD')
                USING DETAIL = 'The partition is created under another name.',
                      HINT = 'Find out who created that relation; revoke CREATE on the schema from roles that need not create there.';
            short := base;
            WHILE octet_length(short) > 44 LOOP
                short := left(short, -1);
            END LOOP;
            part := format('%I.%I', nsp,
                           short || '_p' || to_char(day_start AT TIME ZONE 'UTC', 'YYYYMMDD')
                           || '_' || left(md5(random()::text || clock_timestamp()::text), 8));
        END IF;
        -- ATTACH locks the tables the foreign keys of the table reference
        -- and those whose foreign keys reference it (SHARE ROW EXCLUSIVE):
        -- waited for at most a second (none with the table's ACCESS
        -- EXCLUSIVE lock held), else the day is left to a later run, its
        -- table not created (the subtransaction's rollback; test/t/481)
        BEGIN
            EXECUTE format('CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS INCLUDING GENERATED '
                           'INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMPRESSION)%s',
                           part, job_table, coalesce(spc, ''));
            IF give THEN
                EXECUTE format('ALTER TABLE %s OWNER TO %I', part, owner);
            END IF;
            PERFORM set_config('lock_timeout', CASE WHEN held THEN '10ms' ELSE '1s' END, true);
            EXECUTE format('ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM (%L) TO (%L)',
                           job_table, part, day_start, day_start + interval '1 day');
            PERFORM set_config('lock_timeout', saved_timeout, true);
        EXCEPTION WHEN lock_not_available OR deadlock_detected THEN
            RAISE WARNING 'wal2queue.create_partitions: could not attach the partition of % for %: a table it locks is busy',
                job_table, to_char(day_start AT TIME ZONE 'UTC', 'YYYY-MM-DD')
                USING DETAIL = format('No partition was created for that day or later ones (%s): attaching one locks table %s, its DEFAULT partition and the tables of its foreign keys (%s), and another transaction holds one of them.',
                                      SQLERRM, job_table,
                                      coalesce((SELECT string_agg(DISTINCT r::regclass::text, ', ')
                                                  FROM (SELECT k.confrelid FROM pg_constraint k
                                                         WHERE k.contype = 'f' AND k.conrelid = job_table
                                                        UNION
                                                        SELECT k.conrelid FROM pg_constraint k
                                                         WHERE k.contype = 'f' AND k.confrelid = job_table) f(r)),
                                               'none')),
                      HINT = 'pg_locks shows who holds it (an open transaction that wrote to a referenced table). A later run creates the day.';
            EXIT;
        END;
        created := created || part::regclass;
        RETURN NEXT part::regclass;
    END LOOP;
    -- their guards, cloned from the table's, recorded also where no event
    -- trigger does it (guard_floor()): once, in one subtransaction; only
    -- theirs (another partition changed unrecorded stays so)
    IF cardinality(created) > 0 THEN
        PERFORM wal2queue.record_guard(job_table::regclass, 'partitions created'::text, created::regclass[]);
    END IF;
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
    PERFORM wal2queue.append_only(qname::regclass);
    RETURN qname::regclass;
END
$$;

COMMENT ON FUNCTION wal2queue.create_job_table(text, boolean) IS
'create the conventional insert-only job table (id, queue, payload jsonb, created_at), optionally partitioned by day';

/*
 * partition_pending(part, reference, from_xid, below_xid, force) -- may
 * PART, an old partition of a job table, hold a row that some slot did not
 * deliver?  False only when prune() would delete every row of every leaf
 * below it (job_leaves(): a leaf partition is judged with ITS guard floor
 * and claim-check floor, as prune() judges it; FORCE as there).  True when
 * a partition below PART is detach-pending (its rows are reported under its
 * own name) or a table below it is an inheritance child that is not a
 * partition: DROP TABLE would take them too, and prune() never judged them.
 * True, with a NOTICE, when a row's text cannot be built (over 1GB, out of
 * memory): prune() keeps such a row (delete_delivered()), so the partition
 * stays, and maintain_partitions() still creates the coming days.
 * Read with row_security off: a leaf whose policy applies to the caller
 * (its owner under FORCE ROW LEVEL SECURITY, a role without BYPASSRLS)
 * cannot hide an undelivered row from the judge; its query fails instead
 * and the partition is kept, with a WARNING (test/t/516).
 * PART must be locked by the caller.
 */
CREATE FUNCTION wal2queue.partition_pending(part regclass, reference xid8, from_xid xid8,
                                            below_xid xid8, force boolean)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET row_security = off
AS $$
DECLARE
    leaf regclass;
    floor xid8;
    pending boolean;
BEGIN
    IF EXISTS (WITH RECURSIVE tree(relid) AS (
                   SELECT part::oid
                   UNION ALL
                   SELECT i.inhrelid FROM pg_inherits i JOIN tree t ON i.inhparent = t.relid)
               SELECT FROM tree t
                 JOIN pg_inherits i ON i.inhrelid = t.relid
                 JOIN pg_class c ON c.oid = t.relid
                WHERE t.relid <> part::oid
                  AND (i.inhdetachpending OR NOT c.relispartition)) THEN
        RETURN true;
    END IF;
    FOR leaf IN SELECT l.l FROM wal2queue.job_leaves(part::regclass) l(l) LOOP
        -- without force, a leaf without its guard, or whose guard state
        -- changed unrecorded, keeps its rows (prune(): point 6)
        floor := CASE WHEN force THEN NULL
                      ELSE wal2queue.leaf_floor(leaf::regclass, reference::xid8,
                                                'wal2queue.maintain_partitions'::text) END;
        IF NOT force AND floor IS NULL THEN
            RETURN true;
        END IF;
        -- rows that may have been claim checks keep it too (prune(): point 7);
        -- a row whose text cannot be built is kept, as delete_delivered()
        -- keeps it, and with it the partition
        BEGIN
            EXECUTE format('SELECT EXISTS (SELECT 1 FROM ONLY %s t WHERE NOT ('
                           'wal2queue.full_xid(t.xmin, $1) >= $2 AND wal2queue.full_xid(t.xmin, $1) < $3 '
                           'AND ($4 IS NULL OR wal2queue.full_xid(t.xmin, $1) > $4) '
                           'AND %s))',
                           leaf, wal2queue.small_enough(leaf::regclass, 5::integer))
                INTO pending USING reference, from_xid, below_xid, floor,
                                   CASE WHEN force THEN NULL ELSE wal2queue.claim_check_floor(leaf::regclass) END;
        EXCEPTION WHEN out_of_memory OR program_limit_exceeded OR internal_error THEN
            RAISE NOTICE 'wal2queue.maintain_partitions: could not measure a row of table %: %', leaf, SQLERRM
                USING DETAIL = format('Rows that cannot be measured may have been claim checks: partition %s is kept.', part);
            pending := true;
        WHEN insufficient_privilege THEN
            RAISE WARNING 'wal2queue.maintain_partitions: cannot read every row of table %: %', leaf, SQLERRM
                USING DETAIL = format('Row-level security applies to role %s there, and a row a policy hides may be undelivered: partition %s is kept.', current_user, part),
                      HINT = 'Run it as a superuser, a role with BYPASSRLS, or the table''s owner when the table does not FORCE ROW LEVEL SECURITY.';
            pending := true;
        END;
        IF pending THEN
            RETURN true;
        END IF;
    END LOOP;
    RETURN false;
END
$$;

/*
 * lock_briefly(tbl, caller) -- take TBL's ACCESS EXCLUSIVE lock (the table's
 * own, as DROP TABLE of a partition takes it, not its partitions') waiting
 * at most a second (lock_timeout, set for this statement only): true when
 * taken; false with a WARNING when another transaction holds the table, so
 * that the caller gives up what needs it instead of making every INSERT
 * queue behind its waiting request.
 */
CREATE FUNCTION wal2queue.lock_briefly(tbl regclass, caller text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '1s'
AS $$
BEGIN
    EXECUTE format('LOCK TABLE ONLY %s IN ACCESS EXCLUSIVE MODE', tbl);
    RETURN true;
EXCEPTION WHEN lock_not_available THEN
    RAISE WARNING '%: table % is busy: another transaction holds a lock on it', caller, tbl
        USING DETAIL = 'Nothing that needs that lock was done: waiting would make every INSERT into the table wait too.',
              HINT = 'A backfill reads the table in one transaction, as may a long query (pg_locks shows who). Run it again later.';
    RETURN false;
END
$$;

/*
 * maintain_partitions(job_table, days_ahead, keep_days, force) -- for a job
 * table made by create_job_table(..., true): create the partitions for
 * today .. today + DAYS_AHEAD, and drop the partitions that end KEEP_DAYS or
 * more days before today (UTC) whose every row was delivered by every slot
 * that should deliver it (prune_horizon(), the rule of prune(); FORCE as
 * there): prune() would delete every row of every leaf below it, each
 * judged by its own floors (partition_pending()).  Old partitions that
 * still hold an undelivered row are kept;
 * when the registry cannot vouch for the table, a WARNING says why, every
 * old partition is kept and the new ones are still created.  Returns one
 * row per partition acted on: ('created' | 'dropped' | 'kept', its name).
 *
 * No lock that an INSERT queues behind is waited for more than a second,
 * and none is waited for while the table's ACCESS EXCLUSIVE lock is held
 * (test/t/414, 434, 437): the old partitions are judged and dropped first,
 * the days created last (create_partitions(), which only tries its locks
 * when a DROP left the table's ACCESS EXCLUSIVE lock held), so that the
 * DEFAULT partition's lock ATTACH takes is held only from just before the
 * call returns (test/t/488).  A DROP that fails (an object depending on
 * the partition: a foreign key referencing the table, another role's view
 * of it) keeps that partition with a WARNING and the run goes on, never
 * CASCADE (test/t/484, 485).  The old partitions are judged under the table's
 * SHARE UPDATE EXCLUSIVE lock and each one's SHARE ROW EXCLUSIVE lock, each
 * waited for at most a second (try_lock()); the table's ACCESS EXCLUSIVE
 * lock, which DROP TABLE of a partition takes, is taken last, waiting at
 * most a second (lock_briefly()), and under it the DEFAULT partition's and
 * each partition's to drop are only tried (NOWAIT).  A lock not had makes
 * a WARNING, and what needs it is left to a later run (a partition that was
 * to be dropped is reported 'kept').
 *
 * Each old partition is locked in SHARE ROW EXCLUSIVE mode before it is
 * checked, and stays so until it is dropped: that waits for transactions
 * still inserting into it and blocks new inserts, so the check sees every
 * row the DROP would remove -- in READ
 * COMMITTED, where the check's query takes its snapshot after the lock.  In
 * REPEATABLE READ or SERIALIZABLE the transaction's snapshot was taken at
 * its first statement, before the lock, and would miss a row committed in
 * between: refused (an ERROR, nothing created or dropped).
 *
 * Everything runs as the caller, and with it the table owner's code: a
 * table whose owner is no superuser is maintained only in a session of
 * its owner, else skipped with a WARNING naming table, owner and caller,
 * nothing created or dropped (owner_session(): test/t/510); an old
 * partition the same rule refuses, or whose owner's rights the caller has
 * not, is kept with a WARNING (test/t/523).
 */
CREATE FUNCTION wal2queue.maintain_partitions(job_table regclass,
                                              days_ahead integer DEFAULT 3,
                                              keep_days integer DEFAULT 7,
                                              force boolean DEFAULT false)
RETURNS TABLE (action text, partition_name text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET datestyle = 'ISO, YMD'
SET timezone = 'UTC'
AS $$
DECLARE
    h record;
    part regclass;
    pending boolean;
    checked boolean := false;   -- horizon computed (only once there is an old partition)
    def regclass;
    droppable regclass[] := '{}';   -- judged delivered, to drop
    dropped text[] := '{}';         -- dropped
    acted text[] := '{}';           -- (action, name) of each old partition in bound order
    busy boolean := false;          -- the table's lock not had: no old partition judged
    pname text;
    edetail text;
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
    IF force IS NULL THEN
        RAISE EXCEPTION 'wal2queue.maintain_partitions: force must not be null'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF current_setting('transaction_isolation') NOT IN ('read committed', 'read uncommitted') THEN
        RAISE EXCEPTION 'wal2queue.maintain_partitions: cannot run in a % transaction',
            upper(current_setting('transaction_isolation'))
            USING ERRCODE = 'active_sql_transaction',
                  DETAIL = 'Its snapshot is older than the lock on an old partition, so a row committed in between would not be seen and DROP TABLE would remove it.',
                  HINT = 'Run it in a READ COMMITTED transaction (the default), e.g. on its own from cron or pg_cron.';
    END IF;
    -- judging and creating run the owner's code as the caller: only in a
    -- session of the owner, or for a superuser's table (test/t/510)
    IF NOT wal2queue.owner_session(job_table::regclass, 'wal2queue.maintain_partitions'::text) THEN
        RETURN;
    END IF;

    -- the table's SHARE UPDATE EXCLUSIVE lock (create_partitions() may hold
    -- it already) keeps its partitions as they are (no DROP, ATTACH,
    -- DETACH, ALTER TABLE of it) while the old ones are judged, and keeps
    -- out no reader or writer; then each old partition is judged under its
    -- own SHARE ROW EXCLUSIVE lock (and its partitions'), which waits for
    -- the transactions writing into it and keeps new writes out, so that the
    -- check sees every row the DROP would remove.  Each waits at most a second.
    IF EXISTS (SELECT FROM wal2queue.partitions(job_table::regclass) p
                WHERE p.upper_bound <= date_trunc('day', now(), 'UTC') - keep_days * interval '1 day')
       AND NOT wal2queue.try_lock(job_table::regclass, 'SHARE UPDATE EXCLUSIVE'::text, false, true) THEN
        RAISE WARNING 'wal2queue.maintain_partitions: table % is busy: another transaction holds a lock on it', job_table
            USING DETAIL = 'No old partition was checked or dropped: that needs the table''s SHARE UPDATE EXCLUSIVE lock, which a VACUUM, ANALYZE, CREATE INDEX or ALTER TABLE of it holds, or another maintain_partitions().',
                  HINT = 'pg_locks shows who holds it. A later run drops them.';
        busy := true;
    END IF;
    FOR part IN
        SELECT p.partition FROM wal2queue.partitions(job_table::regclass) p
         WHERE p.upper_bound <= date_trunc('day', now(), 'UTC') - keep_days * interval '1 day'
           AND NOT p.detach_pending AND NOT busy
    LOOP
        IF NOT checked THEN
            h := wal2queue.prune_horizon(job_table::regclass, force::boolean, 'wal2queue.maintain_partitions'::text, false);
            checked := true;
        END IF;
        pending := true;
        IF h.below_xid IS NULL THEN
            NULL;
        ELSIF NOT wal2queue.owner_session(part::regclass, 'wal2queue.maintain_partitions'::text, job_table::regclass) THEN
            -- another role's day (test/t/523): kept, before its lock fails the run
            NULL;
        ELSIF NOT wal2queue.try_lock(part::regclass, 'SHARE ROW EXCLUSIVE'::text, true, true) THEN
            RAISE WARNING 'wal2queue.maintain_partitions: partition % of table % is busy: another transaction holds a lock on it', part, job_table
                USING DETAIL = 'It is kept: checking its rows needs its SHARE ROW EXCLUSIVE lock, which a transaction writing into it or a VACUUM of it holds.',
                      HINT = 'pg_locks shows who holds it. A later run drops it.';
        ELSE
            pending := wal2queue.partition_pending(part::regclass, h.reference::xid8,
                                                   h.from_xid::xid8, h.below_xid::xid8, force::boolean);
        END IF;
        IF pending THEN
            acted := acted || ARRAY['kept', part::text];
        ELSE
            droppable := droppable || part;
            acted := acted || ARRAY['dropped', part::text];
        END IF;
    END LOOP;

    -- DROP TABLE of a partition takes the ACCESS EXCLUSIVE lock of the
    -- table and of its DEFAULT partition, which every INSERT waits behind:
    -- the table's is taken waiting at most a second (lock_briefly()), and
    -- under it the others are only tried (NOWAIT): a partition still read
    -- (a report, pg_dump, a VACUUM FREEZE) is kept for a later run, never
    -- waited for with the table locked (test/t/434)
    IF cardinality(droppable) > 0 THEN
        SELECT NULLIF(p.partdefid, 0)::regclass INTO def
          FROM pg_partitioned_table p WHERE p.partrelid = job_table;
        IF NOT wal2queue.lock_briefly(job_table::regclass, 'wal2queue.maintain_partitions'::text) THEN
            droppable := '{}';
        ELSIF def IS NOT NULL
              AND NOT wal2queue.owner_session(def, 'wal2queue.maintain_partitions'::text, job_table::regclass) THEN
            -- another role's DEFAULT partition (test/t/523): nothing dropped
            droppable := '{}';
        ELSIF def IS NOT NULL AND NOT wal2queue.try_lock(def::regclass, 'ACCESS EXCLUSIVE'::text, true, false) THEN
            RAISE WARNING 'wal2queue.maintain_partitions: the DEFAULT partition % of table % is busy: another transaction holds a lock on it', def, job_table
                USING DETAIL = 'No old partition was dropped: dropping a partition needs the DEFAULT partition''s ACCESS EXCLUSIVE lock too.',
                      HINT = 'pg_locks shows who holds it. A later run drops them.';
            droppable := '{}';
        END IF;
        FOREACH part IN ARRAY droppable LOOP
            IF NOT wal2queue.try_lock(part::regclass, 'ACCESS EXCLUSIVE'::text, true, false) THEN
                RAISE WARNING 'wal2queue.maintain_partitions: partition % of table % is busy: another transaction holds a lock on it', part, job_table
                    USING DETAIL = 'It is kept: waiting for it with the table locked would make every INSERT wait too.',
                          HINT = 'pg_locks shows who holds it (a long query or a VACUUM of that partition). A later run drops it.';
                CONTINUE;
            END IF;
            pname := part::text;     -- its name, while it has one
            -- an object that depends on it (a foreign key referencing the
            -- table, another role's view of it) makes DROP TABLE fail: the
            -- partition is kept and the rest of the run goes on (test/t/484,
            -- 485); never CASCADE, which would drop another role's objects
            BEGIN
                EXECUTE format('DROP TABLE %s', part);
                dropped := dropped || pname;
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS edetail = PG_EXCEPTION_DETAIL;
                RAISE WARNING 'wal2queue.maintain_partitions: could not drop partition % of table %: %', pname, job_table, SQLERRM
                    USING DETAIL = 'It is kept, though every slot delivered its rows.'
                                   || CASE WHEN edetail <> '' THEN ' ' || edetail ELSE '' END,
                          HINT = 'Drop what depends on it (a view over it; a foreign key that references the table has a part on every partition: DETACH the partition, then drop it), or keep it. maintain_partitions() never drops with CASCADE.';
            END;
        END LOOP;
    END IF;

    -- the coming days last: ATTACH takes the DEFAULT partition's ACCESS
    -- EXCLUSIVE lock, which every reader of the table waits behind until
    -- the transaction ends, so nothing is judged or waited for after it
    -- (test/t/488); with the table's ACCESS EXCLUSIVE lock held from a
    -- DROP, create_partitions() only tries the locks it needs
    FOR part IN SELECT * FROM wal2queue.create_partitions(job_table::regclass, days_ahead::integer) LOOP
        RETURN QUERY SELECT 'created', part::text;
    END LOOP;
    -- one row per old partition, in the order of their bounds
    FOR i IN 1 .. coalesce(array_length(acted, 1), 0) / 2 LOOP
        RETURN QUERY SELECT CASE WHEN acted[2 * i - 1] = 'dropped' AND NOT acted[2 * i] = ANY (dropped)
                                 THEN 'kept' ELSE acted[2 * i - 1] END,
                            acted[2 * i];
    END LOOP;
END
$$;

COMMENT ON FUNCTION wal2queue.maintain_partitions(regclass, integer, integer, boolean) IS
'create upcoming daily partitions of a job table and drop old ones whose rows every slot selecting it has delivered';
