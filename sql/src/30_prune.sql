-- sql/src/30_prune.sql -- prune(): which rows every slot that selects a table delivered, and deleting them
-- (part of the wal2queue extension script: see 00_install.sql)

/*
 * slot_selects(tables, publication, job_table) -- does a registered slot
 * with these TABLES and PUBLICATION deliver the rows of JOB_TABLE?  The
 * tables option is matched against the name the decoder uses (the
 * partition root's schema.table); a pgoutput slot must also have the
 * table published: the table, its partition root or any partition of that
 * root in pg_publication_tables (counting a slot that may deliver it is
 * safe: it can only hold prune back).
 */
CREATE FUNCTION wal2queue.slot_selects(tables text, publication name, job_table regclass)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT wal2queue.tables_select(tables::text, n.nspname::text, c.relname::text)
           AND (publication IS NULL OR EXISTS (
                SELECT FROM pg_publication_tables pt
                  JOIN pg_namespace pn ON pn.nspname = pt.schemaname
                  JOIN pg_class pc ON pc.relnamespace = pn.oid AND pc.relname = pt.tablename
                 WHERE pt.pubname = publication
                   AND pc.oid IN (SELECT c.oid UNION ALL SELECT t.relid FROM pg_partition_tree(c.oid) t)))
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = coalesce(pg_partition_root(job_table), job_table)
$$;

/*
 * publication_gap(publication, job_table, snap, reference) -- why
 * PUBLICATION may not have sent the INSERTs of JOB_TABLE's rows (under the
 * name of its partition root R, the name slot_selects() matched) for every
 * transaction that completed after the snapshot SNAP; NULL when it did.
 * pgoutput reads the publication as of each change it decodes, so what
 * counts is that nothing changed since SNAP, proven by catalog rows
 * committed as of SNAP (any change writes a new row version, with a new
 * xmin; a row deleted and added again is a new row):
 *  - the pg_publication row (which publishes inserts, via the partition
 *    root or not, FOR ALL TABLES or not; its oid, name and owner): ALTER
 *    PUBLICATION ... SET (publish = ...) and back, or a publication dropped
 *    and created again under the same name, leave a newer row;
 *  - and one row that publishes R whole under its own name: the
 *    publication FOR ALL TABLES, R's schema in pg_publication_namespace,
 *    or R in pg_publication_rel without a row filter (a filter applies
 *    only when R is published by neither of the others, PostgreSQL 15).
 *    Without publish_via_partition_root pgoutput names a partition's rows
 *    after the partition; only R's own membership names them after R
 *    (ALTER PUBLICATION ... SET TABLE keeps the rows of the tables it
 *    keeps, unchanged, and replaces the others).
 * Anything else fails safe: the rows count as undelivered by the slot.
 */
CREATE FUNCTION wal2queue.publication_gap(publication name, job_table regclass,
                                          snap pg_snapshot, reference xid8)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH root AS (
        SELECT c.oid, c.relnamespace, c.relkind FROM pg_class c
         WHERE c.oid = coalesce(pg_partition_root(job_table), job_table)
    ), pub AS (
        SELECT p.oid, p.puballtables, p.pubinsert, p.pubviaroot,
               coalesce(pg_visible_in_snapshot(wal2queue.full_xid(p.xmin, reference), snap), false) AS old
          FROM pg_publication p WHERE p.pubname = publication
    ), member AS (
        SELECT pub.old, false AS filtered FROM pub WHERE pub.puballtables
        UNION ALL
        SELECT coalesce(pg_visible_in_snapshot(wal2queue.full_xid(r.xmin, reference), snap), false),
               r.prqual IS NOT NULL
          FROM pg_publication_rel r, pub, root
         WHERE r.prpubid = pub.oid AND r.prrelid = root.oid
        UNION ALL
        SELECT coalesce(pg_visible_in_snapshot(wal2queue.full_xid(s.xmin, reference), snap), false), false
          FROM pg_publication_namespace s, pub, root
         WHERE s.pnpubid = pub.oid AND s.pnnspid = root.relnamespace
    )
    SELECT CASE
        WHEN NOT EXISTS (SELECT FROM pub) THEN 'does not exist'
        WHEN NOT (SELECT pub.old FROM pub)
            THEN 'was created or changed (ALTER PUBLICATION ... SET, RENAME or OWNER TO; or DROP and CREATE) after the slot was registered'
        WHEN NOT (SELECT pub.pubinsert FROM pub) THEN 'does not publish inserts'
        WHEN (SELECT root.relkind FROM root) = 'p' AND NOT (SELECT pub.pubviaroot FROM pub)
            THEN format('publishes the partitions of table %s under their own names (publish_via_partition_root = false)',
                        (SELECT root.oid::regclass FROM root))
        WHEN NOT EXISTS (SELECT FROM member)
            THEN format('does not publish table %s itself', (SELECT root.oid::regclass FROM root))
        WHEN NOT EXISTS (SELECT FROM member m WHERE NOT m.filtered)
            THEN format('publishes table %s with a row filter', (SELECT root.oid::regclass FROM root))
        WHEN NOT EXISTS (SELECT FROM member m WHERE m.old AND NOT m.filtered)
            THEN format('began publishing table %s after the slot was registered', (SELECT root.oid::regclass FROM root))
    END
$$;

/*
 * job_leaves(job_table) -- the tables that hold JOB_TABLE's rows: itself if
 * it is not partitioned, else its leaf partitions, oldest first.  A
 * detach-pending partition (a DETACH ... CONCURRENTLY that did not finish)
 * and what is below it are left out, and so are inheritance children that
 * are not partitions (CREATE TABLE ... INHERITS): the plugin reports their
 * rows under their own names, so they are judged by prune() of that name.
 */
CREATE FUNCTION wal2queue.job_leaves(job_table regclass)
RETURNS SETOF regclass
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE tree(relid) AS (
        SELECT job_table::oid
        UNION ALL
        SELECT i.inhrelid FROM pg_inherits i JOIN tree t ON i.inhparent = t.relid
          JOIN pg_class p ON p.oid = i.inhrelid
         WHERE NOT i.inhdetachpending AND p.relispartition
    )
    SELECT t.relid::regclass FROM tree t JOIN pg_class c ON c.oid = t.relid
     WHERE c.relkind <> 'p'
     ORDER BY t.relid
$$;

/*
 * horizon_problem(job_table, reference, caller) -- why the registry cannot
 * vouch for JOB_TABLE at all (prune_horizon(), THE RULE), with a hint; no
 * row when it can.
 */
CREATE FUNCTION wal2queue.horizon_problem(job_table regclass, reference xid8, caller text,
                                          OUT problem text, OUT hint text)
RETURNS SETOF record
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p.problem, p.hint FROM (
        SELECT 1 AS o, r.slot_name AS n,
               format('replication slot "%s" is registered but does not exist in this database', r.slot_name) AS problem,
               format('If every job it should have delivered was delivered or re-sent, run SELECT wal2queue.unregister_slot(%L); or call %s(..., force => true).',
                      r.slot_name, caller) AS hint
          FROM wal2queue.slots r
         WHERE NOT EXISTS (SELECT FROM pg_replication_slots s
                            WHERE s.slot_name = r.slot_name AND s.slot_type = 'logical'
                              AND s.database = current_database())
        UNION ALL
        SELECT 2, s.slot_name,
               format('replication slot "%s" uses the plugin wal2queue but is not registered', s.slot_name),
               format('Register it with SELECT wal2queue.register_slot(%L, <its tables option>) (it then delivers from now on), or call %s(..., force => true).',
                      s.slot_name, caller)
          FROM pg_replication_slots s
         WHERE s.plugin = 'wal2queue' AND s.database = current_database()
           AND NOT EXISTS (SELECT FROM wal2queue.slots r WHERE r.slot_name = s.slot_name)
        UNION ALL
        SELECT 3, r.slot_name,
               format('publication "%s" of replication slot "%s" %s',
                      r.publication, r.slot_name,
                      wal2queue.publication_gap(r.publication, job_table, r.registered_snapshot, reference)),
               format('pgoutput sends a row only while the publication publishes its table''s inserts whole under the name the bridge selects.  Make it publish them (publish = ''insert'', publish_via_partition_root = true, no row filter), re-send what the slot may have skipped, and register the slot again with SELECT wal2queue.register_slot(%L, %L, %L) (it then delivers from now on); or call %s(..., force => true).',
                      r.slot_name, r.tables, r.publication, caller)
          FROM wal2queue.slots r
         WHERE r.publication IS NOT NULL
           AND wal2queue.slot_selects(r.tables, r.publication, job_table)
           AND wal2queue.publication_gap(r.publication, job_table, r.registered_snapshot, reference) IS NOT NULL
        UNION ALL
        SELECT 5, l::text,
               format('table %s is not append-only: %s has no trigger wal2queue_append_only enabled ALWAYS',
                      coalesce(pg_partition_root(job_table), job_table)::regclass, l),
               format('An UPDATE gives a row a new xmin, which prune would take for delivered.  Run SELECT wal2queue.append_only(%L) (rows written before it then count as undelivered), or call %s(..., force => true).',
                      coalesce(pg_partition_root(job_table), job_table)::regclass::text, caller)
          FROM wal2queue.job_leaves(job_table) l
         WHERE wal2queue.guard_problem(l) = 'unguarded'
        UNION ALL
        SELECT 4, NULL,
               format('no registered replication slot selects table %s', coalesce(pg_partition_root(job_table), job_table)::regclass),
               format('Create the slot with wal2queue.create_slot() or the bridge''s --create-slot, or call %s(..., force => true).',
                      caller)
         WHERE NOT EXISTS (SELECT FROM wal2queue.slots r
                            WHERE wal2queue.slot_selects(r.tables, r.publication, job_table))
    ) p
    ORDER BY p.o, p.n LIMIT 1
$$;

/*
 * prune_horizon(job_table, force, caller, fatal) -- which rows of JOB_TABLE
 * every slot that should deliver them has delivered: those whose xmin x
 * satisfies  from_xid <= full_xid(x, reference) < below_xid.
 * All three NULL: no row may be deleted (a NOTICE or WARNING says why).
 *
 * THE RULE.  A row may be deleted only if every registered slot that
 * selects the table now (slot_selects(): its tables option, and for a
 * pgoutput slot its publication) decoded its transaction, and every
 * registered slot of the database, selecting the table or not, confirmed
 * that transaction through a bridge; at least one slot must select it:
 *   from_xid  = the largest delivers_from of the slots that select it,
 *   below_xid = the smallest of  least(catalog_xmin, attested_xmin)  of
 *               EVERY registered slot (as xid8): a slot's catalog_xmin
 *               counts only as far as a bridge attested it (attest_slot()).
 * So a stopped or lagging slot holds prune of every table, not only of
 * those it selects (a NOTICE names it when it is the one holding back).
 * And the row's xmin must be above its partition's guard floor
 * (guard_floor(), sql/src/25_append_only.sql): the xmin of the last record
 * of the partition's guard state (its file, its guard triggers) in
 * guard_events, while that state is unchanged: every row version since was
 * written by an INSERT.  A partition whose state changed unrecorded keeps
 * all its rows (a NOTICE, leaf_floor()).
 * Anything else deletes nothing: no registered slot selects the table, a
 * registered slot no longer exists (it was dropped or lost with undelivered
 * jobs, or re-created and not registered again), a slot of the plugin
 * wal2queue in this database is not registered (it may deliver from an
 * unknown point), a pgoutput slot's publication did not publish the
 * table's inserts, whole and under its own name, unchanged since the slot
 * was registered (publication_gap()), the table (or a partition) is unlogged or
 * temporary, a partition holding rows has no append-only guard (errors
 * with FATAL, otherwise warnings); a registered slot that
 * no bridge attested yet, or whose attestation was refused (NOTICEs).
 *
 * WHY A ROW THAT PASSES WAS DELIVERED BY SLOT S (PostgreSQL 15,
 * replication/logical/logical.c and snapbuild.c), for a row whose xmin x
 * belongs to top-level transaction T:
 *  1. x >= S.delivers_from  =>  S decodes T.  delivers_from is the xmax of a
 *     snapshot taken after S was created, i.e. after S's consistent point;
 *     an xid >= xmax had not completed when that snapshot was taken
 *     (latestCompletedXid covers subtransactions too), so T commits after
 *     the consistent point, and a slot decodes in full every transaction
 *     that commits after its consistent point (snapbuild's CONSISTENT
 *     state).  Xids below delivers_from are conservatively taken as not
 *     delivered by S, even though most were -- unless mark_backfilled()
 *     set delivers_from to 0: then a backfill read every row committed
 *     before the consistent point from the snapshot S exported there.
 *     For a pgoutput slot, its publication sent T's INSERT of the row too:
 *     pgoutput decides each change from the publication as of the
 *     change's place in WAL (the historic catalog snapshot, and the
 *     invalidations of a catalog change are applied to the transactions in
 *     progress, PostgreSQL 15.13+), and publication_gap() requires the
 *     pg_publication row (inserts, publish_via_partition_root for a
 *     partitioned table, FOR ALL TABLES, its oid) and a row that publishes
 *     the table whole under its own name (FOR ALL TABLES, its schema, or
 *     the table without a row filter) to be committed in the registration
 *     snapshot and unchanged since: every change of a catalog row writes a
 *     new version with a new xmin, and a row deleted and added again is a
 *     new row.  So they were in effect from before the registration until
 *     now, and T's INSERT, which follows their commit in WAL (see WHAT IT
 *     CANNOT SEE for the one exception), was sent under the table's name.
 *  2. x < S.catalog_xmin  =>  S's consumer confirmed T.  After creation a
 *     slot's catalog_xmin moves only through LogicalConfirmReceivedLocation():
 *     decoding an xl_running_xacts record at LSN L proposes a candidate
 *     X <= the record's oldestRunningXid with candidate_xmin_lsn = L, and it
 *     becomes catalog_xmin only once the consumer confirmed a flush position
 *     >= L.  Every xid below oldestRunningXid belongs to a transaction that
 *     had ended before L was written (xids are assigned in order, a
 *     transaction leaves the proc array only after its commit record is in
 *     WAL, and the record at L is written after the proc array was scanned).
 *     A subtransaction's xid is larger than its parent's, so T < x < X too.
 *     So T's commit record precedes L <= the confirmed position: S streamed
 *     T and its consumer confirmed it.
 *  3. x < S.attested_xmin  =>  that consumer was a bridge, after delivery.
 *     attested_xmin is a catalog_xmin read while the slot was held by the
 *     walsender of a bridge session that its sink had validated
 *     (attest_slot() checks the holder; the bridge calls it only once the
 *     sink accepted the session).  Every confirmation that moved it there
 *     was made by such sessions, each of which confirms only what its sink
 *     durably accepted, and nothing else consumed the slot in between:
 *     a) within a session the walsender holds the slot, so nobody else
 *        (pg_replication_slot_advance(), pg_logical_slot_get_changes(),
 *        DROP) can move or replace it;
 *     b) between sessions, a slot advanced, consumed, or dropped and
 *        re-created by hand starts the next session past the sink's
 *        record of this source, which the bridge refuses (it never
 *        attests); a session without such a record (a slot the bridge
 *        created, --accept-new-source) is attested only if it starts where
 *        the slot was registered or where the last attestation had got to
 *        (a re-created slot starts at the WAL position of its creation,
 *        past both), and a refused one stops attestation until the slot is
 *        registered again.
 *     A slot consumed by hand after its last attestation has a larger
 *     catalog_xmin, but least() keeps the attested one.
 *  4. Xids are compared as 64-bit values (full_xid() around a reference
 *     taken now), so the comparison is correct across wraparound.
 *  5. Names.  A slot chose the row by the name its table had when T was
 *     decoded (T's historic catalog snapshot), which may differ from
 *     today's: RENAME, SET SCHEMA, ATTACH PARTITION under another root.
 *     So 2 and 3 are required of EVERY registered slot (and an unregistered
 *     wal2queue slot stops prune altogether): every slot that decoded T
 *     confirmed it through a bridge, after its sink accepted every job of
 *     T the slot selected under the names it saw then.  1 is required of
 *     the slots that select the table now, so at least one slot decoded T.
 *     If the table had its current name at T, those slots delivered the
 *     row; if it had another, every slot that selected that name and
 *     decoded T delivered it.
 *
 *  6. Row versions.  xmin is the xid of the row VERSION: an UPDATE (a
 *     cross-partition move too) writes a new version whose xmin belongs to
 *     the UPDATE's transaction, and a rewrite gives every row the rewriting
 *     (sub)transaction's xid; a slot that decoded them delivered no job
 *     (only INSERTs are jobs), so 1 to 3 say nothing about a job whose
 *     INSERT the slot may not have decoded.  A complete guard (a trigger
 *     running refuse_update(), whatever its name: BEFORE, FOR EACH ROW,
 *     UPDATE of every column, no WHEN, enabled ALWAYS, so
 *     session_replication_role = replica does not skip it) refuses every
 *     UPDATE.  guard_floor() is the xmin g of the last guard_events row of
 *     the partition, and only while the partition's guard state
 *     (guard_state(): its relfilenode, the row versions (xmin, ctid) of its
 *     guard triggers and of refuse_update()) is the recorded one; any
 *     rewrite, VACUUM FULL, CLUSTER, TRUNCATE or change of a guard trigger
 *     writes a new catalog row version, so an unchanged state means none
 *     happened since.  The row was inserted in a subtransaction entered
 *     after the state was read (record_guard_state()), so g was assigned
 *     after (a) every xid of the recording transaction so far (a rewrite's;
 *     an UPDATE's in a savepoint while the same transaction had the guard
 *     off) and (b) the xid of every transaction whose committed change the
 *     state shows (an xid is assigned before its transaction commits).  An
 *     UPDATE made by another transaction while the guard was off ended
 *     before the ALTER TABLE that completed the guard again took its SHARE
 *     ROW EXCLUSIVE lock (the UPDATE holds ROW EXCLUSIVE to its end): before
 *     that change committed (b), or before the recording transaction's own
 *     ALTER (a); its xid is below g whenever the enabling transaction got
 *     its own xid.  Records are made at ddl_command_end of ALTER TABLE,
 *     ALTER TYPE, CREATE TABLE, CREATE and ALTER TRIGGER by the event
 *     trigger wal2queue_guard_alter (with the tables wal2queue_guard_rewrite
 *     saw rewritten), and by append_only() and create_partitions().  A
 *     table a CREATE TABLE created (a partition, its guard cloned) is
 *     recorded with the creating xid itself, without a subtransaction: no
 *     other transaction saw it, no row of it is older, and any later
 *     change of its guard or file in that transaction is recorded anew.  So a
 *     row with x > g was written while the guard was complete, by an
 *     INSERT of transaction T, and 1 to 5 apply to T.
 *
 *  7. Claim checks.  A row the plugin found larger than the slot's
 *     max-job-bytes was delivered as a claim check: the job names the row,
 *     and its worker reads the row from the table, so the row is the job's
 *     only copy.  No catalog says which rows those were, so prune keeps,
 *     without force, every row that may have been one: its text form at
 *     least claim_check_floor() (computed from the smallest max-job-bytes
 *     registered for a wal2queue slot of the database, register_slot() and
 *     lower_max_job_bytes(), which only ever lower it; measured as that
 *     function's comment says, by the text the row had when decoded).
 *     A worker that has read a claim-checked row deletes it (DELETE is not
 *     refused by the guard), or prune(..., force => true) deletes it.
 *
 * WHAT IT CANNOT SEE.  A value whose output function (of an extension's
 * type) fails with program_limit_exceeded for another reason than its
 * text's size: the plugin takes it for a text over 1GB (point 7, case 2)
 * and the row may be below the floor.  Session settings that change a
 * value's text: prune() measures with its caller's DateStyle, IntervalStyle,
 * TimeZone, extra_float_digits and bytea_output, the plugin decoded with its
 * walsender's (the server's defaults unless the bridge's connection set
 * others): a setting that prints shorter in prune()'s session (bytea_output
 * = 'escape' of printable bytes: half the hex form) can make a claim-checked
 * row look small.  Run prune() with the server's defaults.  A table or
 * schema renamed to a shorter name lowers O (claim_check_floor()) a little
 * without a new guard state.  A registration with a tables option
 * or publication other than the one the slot is read with.  A bridge session that began
 * without a sink record at a position the slot reached without a bridge
 * and ended before its first attestation (every status interval): its
 * sink's record then vouches for the next session.  A row whose 32-bit
 * xmin is older than 2^31 transactions (frozen, still undelivered after
 * that long) may be taken for a recent xid.  A row of a table renamed,
 * moved to another schema or attached after T, when no slot that decoded
 * T selected the table's name at T (the slot that selected it was created,
 * or dropped and re-created, after T; or none did), and a slot older than T
 * selects the new name: point 1 holds for that slot although it skipped
 * the row.  Under its old name prune kept the row (no slot selected it, or
 * x < delivers_from); so do not rename, move or attach a table that holds
 * rows no existing slot delivered -- re-send or delete them first.
 * Rows rewritten in place without UPDATE by a tool that edits pages (a
 * tool that swaps files, pg_repack, changes the relfilenode: seen).  After
 * VACUUM FULL, CLUSTER, TRUNCATE or pg_upgrade the floor is unknown
 * although no row changed its xmin (a false alarm: append_only() again).
 * A publication change committed while the slot was being created and
 * registered (the bridge does both back to back), when a transaction had
 * its xid before that change committed, inserted a row before it and
 * committed after the registration: pgoutput decoded that INSERT with
 * the publication as it was before the change.
 *
 * FORCE.  With force => true only point 2 is kept (no guard is needed):
 * a row goes when its xmin precedes the catalog_xmin of every wal2queue slot and every registered
 * slot of this database, whether or not a slot delivered it (use it once the
 * jobs a re-created slot skipped were re-sent or given up).  With no such
 * slot nothing is deleted.
 */
CREATE FUNCTION wal2queue.prune_horizon(job_table regclass, force boolean DEFAULT false,
                                        caller text DEFAULT 'wal2queue.prune_horizon',
                                        fatal boolean DEFAULT true,
                                        OUT reference xid8, OUT from_xid xid8, OUT below_xid xid8)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    table_name text;
    problem text;
    hint text;
    unset name;
    unattested record;
    nslots bigint;
    own_below xid8;
    holder name;
BEGIN
    IF job_table IS NULL THEN
        RAISE EXCEPTION '%: job_table must not be null', caller
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF force IS NULL THEN
        RAISE EXCEPTION '%: force must not be null', caller
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    reference := pg_snapshot_xmax(pg_current_snapshot());
    table_name := coalesce(pg_partition_root(job_table), job_table)::regclass::text;

    -- rows of an unlogged or temporary table never reach WAL: no slot
    -- decodes them, so none was delivered, force or not
    SELECT format('table %s is %s', c.oid::regclass,
                  CASE c.relpersistence WHEN 'u' THEN 'unlogged' ELSE 'temporary' END)
      INTO problem
      FROM pg_class c
     WHERE (c.oid = job_table OR c.oid IN (SELECT t.relid FROM pg_partition_tree(job_table) t))
       AND c.relpersistence <> 'p'
     ORDER BY c.oid LIMIT 1;
    IF problem IS NOT NULL THEN
        hint := format('Its rows are not written to WAL, so no slot delivers them.  Make it logged with ALTER TABLE %s SET LOGGED; rows inserted before that were never delivered.',
                       job_table);
        IF fatal THEN
            RAISE EXCEPTION '%: %, so no job counts as delivered', caller, problem
                USING ERRCODE = 'object_not_in_prerequisite_state', HINT = hint;
        END IF;
        RAISE WARNING '%: %, so no job counts as delivered', caller, problem
            USING HINT = hint;
        reference := NULL;
        RETURN;
    END IF;

    IF NOT force THEN
        SELECT p.problem, p.hint INTO problem, hint
          FROM wal2queue.horizon_problem(job_table, reference, caller) p;
        IF problem IS NOT NULL THEN
            IF fatal THEN
                RAISE EXCEPTION '%: %, so no job counts as delivered', caller, problem
                    USING ERRCODE = 'object_not_in_prerequisite_state', HINT = hint;
            END IF;
            RAISE WARNING '%: %, so no job counts as delivered', caller, problem
                USING HINT = hint;
            reference := NULL;
            RETURN;
        END IF;

        -- every registered slot, selecting the table or not (point 5)
        SELECT r.slot_name, r.attest_refused,
               NOT wal2queue.slot_selects(r.tables, r.publication, job_table) AS other
          INTO unattested
          FROM wal2queue.slots r
         WHERE r.attested_xmin IS NULL OR r.attest_refused IS NOT NULL
         ORDER BY r.slot_name LIMIT 1;
        IF unattested.slot_name IS NOT NULL THEN
            IF unattested.attest_refused IS NULL AND unattested.other THEN
                RAISE NOTICE '%: no bridge has attested replication slot "%" yet, so no job counts as delivered',
                    caller, unattested.slot_name
                    USING DETAIL = format('The slot does not select table %s now, but it may have selected its rows under an earlier name: every slot of the database holds prune of every table.', table_name),
                          HINT = 'start the bridge: it attests the slot once its sink has validated the session (every status interval).';
            ELSIF unattested.attest_refused IS NULL THEN
                RAISE NOTICE '%: no bridge has attested replication slot "%" yet, so no job counts as delivered',
                    caller, unattested.slot_name
                    USING HINT = 'start the bridge: it attests the slot once its sink has validated the session (every status interval).';
            ELSE
                RAISE NOTICE '%: replication slot "%" was consumed or re-created without a bridge, so no job counts as delivered',
                    caller, unattested.slot_name
                    USING DETAIL = unattested.attest_refused || '.',
                          HINT = format('Re-send what it may have skipped, then register it again with wal2queue.register_slot(%L, ...) and start the bridge; or call %s(..., force => true).',
                                        unattested.slot_name, caller);
            END IF;
            reference := NULL;
            RETURN;
        END IF;

        -- point 1 of the slots that select the table now; points 2 and 3
        -- of every registered slot (an unregistered wal2queue slot was
        -- refused above)
        SELECT count(*) FILTER (WHERE v.selects),
               min(v.slot_name) FILTER (WHERE v.catalog_xmin IS NULL),
               max(v.delivers_from) FILTER (WHERE v.selects),
               min(v.horizon), min(v.horizon) FILTER (WHERE v.selects)
          INTO nslots, unset, from_xid, below_xid, own_below
          FROM (SELECT r.slot_name, r.delivers_from, s.catalog_xmin,
                       wal2queue.slot_selects(r.tables, r.publication, job_table) AS selects,
                       least(wal2queue.full_xid(s.catalog_xmin, reference), r.attested_xmin) AS horizon
                  FROM wal2queue.slots r JOIN pg_replication_slots s ON s.slot_name = r.slot_name) v;
        IF below_xid < own_below THEN
            SELECT r.slot_name INTO holder
              FROM wal2queue.slots r JOIN pg_replication_slots s ON s.slot_name = r.slot_name
             WHERE least(wal2queue.full_xid(s.catalog_xmin, reference), r.attested_xmin) = below_xid
             ORDER BY r.slot_name LIMIT 1;
            RAISE NOTICE '%: replication slot "%" holds back prune of table %, which it does not select',
                caller, holder, table_name
                USING DETAIL = format('A row is deleted only once every slot of the database has confirmed its transaction (the slot may have selected it under an earlier name); the slot has confirmed transactions up to xid %s, the slots that select the table up to %s.',
                                      below_xid, own_below),
                      HINT = 'Start its bridge, or drop the slot and unregister it if it is no longer used.';
        END IF;
    ELSE
        SELECT count(*), min(s.slot_name) FILTER (WHERE s.catalog_xmin IS NULL),
               '0'::xid8, min(wal2queue.full_xid(s.catalog_xmin, reference))
          INTO nslots, unset, from_xid, below_xid
          FROM pg_replication_slots s
         WHERE s.database = current_database() AND s.slot_type = 'logical'
           AND (s.plugin = 'wal2queue'
                OR EXISTS (SELECT FROM wal2queue.slots r WHERE r.slot_name = s.slot_name));
        IF nslots = 0 THEN
            RAISE NOTICE '%: no wal2queue slot in database "%", so no job counts as delivered',
                caller, current_database();
        END IF;
    END IF;
    IF nslots = 0 OR unset IS NOT NULL THEN
        IF unset IS NOT NULL THEN
            RAISE NOTICE '%: replication slot "%" has no catalog_xmin yet, so no job counts as delivered',
                caller, unset;
        END IF;
        reference := NULL;
        from_xid := NULL;
        below_xid := NULL;
    END IF;
END
$$;

COMMENT ON FUNCTION wal2queue.prune_horizon(regclass, boolean, text, boolean) IS
'rows of a job table with FROM_XID <= full_xid(xmin, REFERENCE) < BELOW_XID were delivered by every slot that selects it';

/*
 * claim_check_floor(leaf) -- the size of a row's text form (octet_length
 * of ROW(t.*)::text) from which prune() keeps a row of LEAF without force
 * (prune_horizon(), point 7); NULL when no registered slot of this database
 * uses the plugin wal2queue (only it makes claim checks).  The plugin makes
 * a claim check of a row whose job would exceed the slot's max-job-bytes M,
 * or whose key and route value together would take M/2 (plugin/job.c).  In
 * UTF-8 bytes (f = 1 in a UTF-8 database; else at most 4 bytes a
 * character, f = 4) a job is at most
 *   O + R + K + R,  with the half-limit test on K + R,
 * where R is the values' text (each at most 5 bytes of framing, counted in
 * O) and K the key as a JSON string: a composite key is a JSON array of
 * texts escaped once more as a string, at most 7 bytes a byte (a control
 * character: \u0001 in the array, \\u0001 in the string) plus 6 bytes a
 * column, so K <= 7R + O; the route value is plain (it may be the key's own
 * column: counted again).  O is the job's framing, 128 bytes, the table's
 * name twice and every column's name JSON-escaped, and 14 bytes a column.
 * The row's text form holds every value's text, so a row whose text form
 * is below
 *   F = min((M - 2O) / 9, (M/2 - O) / 8) / f
 * was delivered whole, by every wal2queue slot with max-job-bytes M or more
 * -- as far as every value was converted and measured.  A value the
 * plugin does not convert (its text bound, plugin/textbound.c, passes
 * both the job's room and 64MB) makes the job a claim check without its
 * text being known (job.c, too_large_to_convert()).  It does so only
 *   1. when textbound.c proves the value's text at least M/16 bytes (its
 *      lower bound: a string's stored length, bytea's too, a fifth of a
 *      jsonb's bound less 12, a container's elements' lower bounds and
 *      delimiters; the short elements of a container are converted one by
 *      one and measured).  F <= (M/2)/8 = M/16, and the row's text form
 *      holds the value's text (in the database encoding, as the lower
 *      bound counts it), so the row is at least F: kept; or
 *   2. when the value's bound passes 256MB while its text is not proven
 *      M/16 long (below 256MB it is converted and measured, as any value
 *      under the job's room is; jsonpath and the types of extensions are
 *      bounded at 36865 bytes a stored byte): it is converted in a
 *      subtransaction (job.c guarded_output()) and measured, and is left
 *      out only when its output function fails for a size limit, i.e. its
 *      text would pass 1GB, far over M/16 (M is at most 256MB), or runs
 *      out of memory while it holds 256MB beyond the value's detoasted
 *      size (the text it was building, at most twice its length: over
 *      M/16 too).
 * So the two agree: a row below F was a whole job.
 *
 * THE TEXT MEASURED IS THE TEXT DECODED.  The rule above compares the
 * row's text form as prune() computes it now with the text the plugin made
 * when it decoded the row; they are the same for a row above the guard
 * floor (prune() deletes no other without force).  A row's text depends,
 * besides its stored values, on its table's columns (a dropped column
 * leaves the text; a column renamed changes O) and on the labels of the
 * enums and the attributes of the composites they use: text_shape()
 * (sql/src/24_text_shape.sql), part of the guard state (guard_state()).
 * Any change of these writes new catalog row versions: if recorded
 * (guard_on_alter(): ALTER TABLE, and ALTER TYPE after locking the tables
 * that use the type in SHARE mode, lock_shape_changed()), the floor moves
 * above every xid that wrote a row under the old shape -- ALTER TABLE holds
 * an ACCESS EXCLUSIVE lock, and the SHARE lock waits for every INSERT
 * running under the old labels and holds back new ones until the change
 * committed, so they are decoded with it; if not recorded, the state
 * differs from the recorded one and the table keeps every row.  So a row
 * above the floor was decoded with the shape the table has now, and its
 * text now is the text then, value by value (a value's output depends
 * only on it, its type's catalog rows and the session settings: see WHAT
 * IT CANNOT SEE; not so for reg* types: OBJECT REFERENCES below).  Rows at or below the floor stay whatever their size.
 * A row whose text cannot be built is kept (small_enough(),
 * delete_delivered()).
 *
 * OBJECT REFERENCES.  A value of a reg* type (regclass, regnamespace,
 * regrole, regproc, regprocedure, regoper, regoperator, regtype,
 * regconfig, regdictionary, regcollation) prints the name of ANOTHER
 * catalog row, and so does aclitem (its grantee's and grantor's role names:
 * test/t/408), which ALTER ... RENAME (of a schema, role, table, function,
 * ...) or DROP changes without touching the table, its types or its guard
 * state: the premise above fails for it, and its text now may be shorter
 * than its text when decoded.  So for a leaf with such a column, directly
 * or nested (the element of an array, the base of a domain, an attribute
 * of a composite, the subtype of a range or multirange), the floor is 0:
 * every row is kept without force, whatever its size.
 */
CREATE FUNCTION wal2queue.claim_check_floor(leaf regclass)
RETURNS bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE m AS (
        SELECT min(coalesce(r.max_job_bytes, 67108864)) AS bytes
          FROM wal2queue.slots r JOIN pg_replication_slots s ON s.slot_name = r.slot_name
         WHERE s.plugin = 'wal2queue' AND s.database = current_database()
        HAVING count(*) > 0),
    e AS (
        SELECT CASE WHEN getdatabaseencoding() = 'UTF8' THEN 1 ELSE 4 END AS f),
    o AS (
        SELECT 128 + 2 * (6 * e.f * (octet_length(n.nspname::text) + octet_length(c.relname::text) + 1) + 2)
               + coalesce((SELECT sum(6 * e.f * octet_length(a.attname::text) + 14)
                             FROM pg_attribute a
                            WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), 0) AS bytes
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, e
         WHERE c.oid = coalesce(pg_partition_root(leaf), leaf)),
    -- every type a column's value is made of: element types of arrays,
    -- base types of domains, attributes of composites, subtypes of ranges
    -- and multiranges
    ty(oid) AS (
        SELECT a.atttypid FROM pg_attribute a
         WHERE a.attrelid = leaf AND a.attnum > 0 AND NOT a.attisdropped
        UNION
        SELECT x.next
          FROM ty JOIN pg_type t ON t.oid = ty.oid
               CROSS JOIN LATERAL (SELECT t.typelem
                                   UNION ALL SELECT t.typbasetype
                                   UNION ALL SELECT a.atttypid FROM pg_attribute a
                                              WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
                                   UNION ALL SELECT rg.rngsubtype FROM pg_range rg
                                              WHERE rg.rngtypid = t.oid OR rg.rngmultitypid = t.oid) x(next)
         WHERE x.next <> 0)
    SELECT CASE WHEN EXISTS (SELECT FROM ty
                              WHERE ty.oid IN ('regclass'::regtype, 'regnamespace'::regtype, 'regrole'::regtype,
                                               'regproc'::regtype, 'regprocedure'::regtype, 'regoper'::regtype,
                                               'regoperator'::regtype, 'regtype'::regtype, 'regconfig'::regtype,
                                               'regdictionary'::regtype, 'regcollation'::regtype,
                                               'aclitem'::regtype))
                THEN 0
                ELSE greatest(least((m.bytes - 2 * o.bytes) / 9, (m.bytes / 2 - o.bytes) / 8) / e.f, 0) END::bigint
      FROM m, o, e
$$;

COMMENT ON FUNCTION wal2queue.claim_check_floor(regclass) IS
'rows of a job table whose text form is at least this large may have been delivered as claim checks: prune() keeps them without force';

/*
 * small_enough(leaf, param) -- an SQL condition on the row t of LEAF: true
 * when the row's text form is shorter than the query parameter number
 * PARAM (claim_check_floor(); NULL: no limit), measured without building a
 * text that cannot be built.  A row
 * with a string or bytea column whose raw length alone reaches $6 is kept
 * unmeasured (its text form holds that value's text, at least as long:
 * octet_length() reads the stored length, without detoasting); the CASE
 * makes sure the text is built only after that test.  A row whose text
 * still cannot be built (over 1GB: an array of values that print much
 * longer than they are stored) raises an error, and delete_delivered()
 * then keeps it.
 */
CREATE FUNCTION wal2queue.small_enough(leaf regclass, param integer)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('($%2$s IS NULL OR CASE WHEN %1$s THEN false ELSE pg_catalog.octet_length(ROW(t.*)::text) < $%2$s END)',
                  coalesce(string_agg(format('coalesce(pg_catalog.octet_length(t.%I) >= $%s, false)', a.attname, param),
                                      ' OR ' ORDER BY a.attnum), 'false'),
                  param)
      FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid
     WHERE a.attrelid = leaf AND a.attnum > 0 AND NOT a.attisdropped
       AND coalesce(nullif(ty.typbasetype, 0), ty.oid)
           IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype, 'bytea'::regtype)
$$;

/*
 * delete_delivered(leaf, xids, lim, cc_floor) -- delete up to LIM rows of
 * LEAF whose xmin x satisfies  from_xid <= x < below_xid  and  x > floor
 * (XIDS: reference, from_xid, below_xid and floor, NULL: any; full_xid()
 * around reference), and whose text form is below CC_FLOOR (NULL: any;
 * small_enough()); returns how many.  If measuring a row fails for its size
 * (out of memory, a string over 1GB), the rows are taken one at a time and
 * those that cannot be measured are kept: one huge row must not stop
 * prune() of the table.
 */
CREATE FUNCTION wal2queue.delete_delivered(leaf regclass, xids xid8[], lim bigint, cc_floor bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    candidates text := format('SELECT t.ctid FROM ONLY %1$s t '
                              'WHERE wal2queue.full_xid(t.xmin, $1) >= $2 AND wal2queue.full_xid(t.xmin, $1) < $3 '
                              'AND ($5 IS NULL OR wal2queue.full_xid(t.xmin, $1) > $5) ', leaf);
    small text := wal2queue.small_enough(leaf::regclass, 6::integer);
    one tid;
    n bigint;
    total bigint := 0;
    msg text;
    ctx text;
BEGIN
    BEGIN
        EXECUTE format('DELETE FROM ONLY %s WHERE ctid = ANY (ARRAY(%s AND %s LIMIT $4))',
                       leaf, candidates, small)
            USING xids[1], xids[2], xids[3], lim, xids[4], cc_floor;
        GET DIAGNOSTICS n = ROW_COUNT;
        RETURN n;
    EXCEPTION WHEN out_of_memory OR program_limit_exceeded OR internal_error THEN
        RAISE NOTICE 'wal2queue.prune: could not measure a row of table %: %', leaf, SQLERRM
            USING DETAIL = 'Rows that cannot be measured may have been claim checks: they are kept.';
    WHEN undefined_table OR undefined_function OR undefined_object THEN
        -- most likely the owner's code naming a table or function without
        -- its schema: the DELETE runs with prune()'s search_path
        -- (test/t/676)
        GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, ctx = PG_EXCEPTION_CONTEXT;
        RAISE EXCEPTION 'wal2queue.prune: the DELETE from table % failed: %', leaf, msg
            USING ERRCODE = SQLSTATE,
                  DETAIL = format('The DELETE, and all the code it runs (triggers, defaults, constraints, rules, foreign keys'' actions), runs with prune()''s search_path = pg_catalog, pg_temp.  Where: %s', split_part(ctx, E'\n', 1)),
                  HINT = 'Qualify the names in that code with their schema (INSERT INTO app.job_archive ...), or give its function its own search_path: ALTER FUNCTION ... SET search_path = ...  (docs/extension.md).';
    END;
    FOR one IN EXECUTE candidates USING xids[1], xids[2], xids[3], lim, xids[4], cc_floor LOOP
        EXIT WHEN total >= lim;
        BEGIN
            EXECUTE format('DELETE FROM ONLY %s t WHERE t.ctid = $7 AND %s', leaf, small)
                USING xids[1], xids[2], xids[3], lim, xids[4], cc_floor, one;
            GET DIAGNOSTICS n = ROW_COUNT;
            total := total + n;
        EXCEPTION WHEN out_of_memory OR program_limit_exceeded OR internal_error THEN
            NULL;   -- kept
        END;
    END LOOP;
    RETURN total;
END
$$;

/*
 * prune(job_table, batch, force) -- delete up to BATCH rows of JOB_TABLE
 * that every registered slot selecting it has delivered (prune_horizon(),
 * which states the rule and its proof) and return how many were deleted.
 * Raises an error, deleting nothing, when the registry cannot vouch for the
 * table, unless FORCE.  Refuses to run in REPEATABLE READ or SERIALIZABLE:
 * there the guard checks (SQL over the catalogs) would read them through a
 * snapshot that may predate an ALTER, while a row's text form is built
 * from the latest catalogs (syscache, relcache), so claim_check_floor()'s
 * premise, one view of the catalogs, would not hold.  The DELETE runs the
 * table owner's code (triggers, rules, policies, cascades) as the caller:
 * a table whose owner is no superuser is pruned only in a session of its
 * owner, else skipped with a WARNING, 0 returned (owner_session():
 * test/t/510, 520, 527, 528); so is a table whose DELETE would run
 * another role's triggers through a foreign key's ON DELETE action
 * (owner_cascades(): test/t/580), or, in a table it writes, another
 * role's code besides triggers: a domain, or a function, operator or
 * operator class its defaults, constraints or indexes use (owner_code():
 * test/t/632); a relation that is not a table is refused
 * (test/t/526).  The checks run under the DELETE's ROW EXCLUSIVE locks on
 * the job table, its partitions and the tables its keys' actions write
 * (those the caller may lock), which hold off a foreign key or trigger
 * added meanwhile (test/t/670).  For a partitioned table it works through the leaf
 * partitions; a ctid is only unique within one of them; a leaf the same
 * rule refuses, or one the caller has not its owner's rights on, is
 * skipped with a WARNING (test/t/523).
 */
CREATE FUNCTION wal2queue.prune(job_table regclass, batch integer DEFAULT 10000,
                                force boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    h record;
    leaf regclass;
    floor xid8;
    cc_floor bigint;
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
    IF current_setting('transaction_isolation') NOT IN ('read committed', 'read uncommitted') THEN
        RAISE EXCEPTION 'wal2queue.prune: cannot run in a % transaction',
            upper(current_setting('transaction_isolation'))
            USING ERRCODE = 'active_sql_transaction',
                  DETAIL = 'Its snapshot may predate a change of the catalogs: the guard would be checked with the old catalogs while the rows'' text is built with the new ones.',
                  HINT = 'Run it in a READ COMMITTED transaction (the default), e.g. on its own from cron or pg_cron.';
    END IF;
    -- the DELETE runs the owner's code as the caller: only in a session of
    -- the owner, or for a superuser's table (test/t/510); each leaf too
    IF NOT wal2queue.owner_session(job_table, 'wal2queue.prune'::text) THEN
        RETURN 0;
    END IF;
    -- the DELETE's locks before the checks, and the checks again under
    -- them: a foreign key onto the job table (ALTER TABLE ... ADD FOREIGN
    -- KEY takes SHARE ROW EXCLUSIVE on it) or a trigger (CREATE TRIGGER,
    -- the same) added while the checks ran would otherwise be fired by a
    -- DELETE they never saw (test/t/670); a partition the caller may not
    -- lock is skipped below anyway (owner_session() of each leaf); the
    -- table before pg_partition_tree() locks its partitions, as ALTER does (test/t/692)
    EXECUTE format('LOCK TABLE ONLY %s IN ROW EXCLUSIVE MODE', job_table);
    FOR leaf IN SELECT p.relid FROM pg_partition_tree(job_table) p
                 WHERE p.relid <> job_table AND has_table_privilege(p.relid, 'INSERT, UPDATE, DELETE, TRUNCATE') LOOP
        EXECUTE format('LOCK TABLE ONLY %s IN ROW EXCLUSIVE MODE', leaf);
    END LOOP;
    IF NOT wal2queue.owner_session(job_table, 'wal2queue.prune'::text) THEN
        RETURN 0;
    END IF;
    -- and the tables its foreign keys' actions write, as their owners:
    -- no other role's triggers there (test/t/580); owner_cascades() locks
    -- them too before it judges them (test/t/670)
    IF NOT wal2queue.owner_cascades(job_table, 'wal2queue.prune'::text) THEN
        RETURN 0;
    END IF;

    h := wal2queue.prune_horizon(job_table, force, 'wal2queue.prune');
    IF h.below_xid IS NULL OR h.from_xid >= h.below_xid THEN
        RETURN 0;
    END IF;

    FOR leaf IN SELECT * FROM wal2queue.job_leaves(job_table) LOOP
        EXIT WHEN total >= batch;
        -- a leaf of another owner (a day another role created: test/t/523)
        -- is skipped, before its LOCK could fail the whole run; its owner
        -- changes only by its owner or a superuser (ALTER TABLE ... OWNER)
        CONTINUE WHEN leaf <> job_table
                      AND NOT wal2queue.owner_session(leaf, 'wal2queue.prune'::text, job_table);
        -- the DELETE's lock first: a shape change in progress (ALTER TABLE,
        -- or ALTER TYPE's SHARE lock, lock_shape_changed()) commits before
        -- the floor is read, so the floor and the rows' text see the same
        -- catalogs (test/t/406)
        EXECUTE format('LOCK TABLE ONLY %s IN ROW EXCLUSIVE MODE', leaf);
        -- without force, only rows written since the leaf's guard state was
        -- last recorded (point 6); prune_horizon() checked every leaf has a
        -- complete guard; a leaf whose state changed unrecorded is skipped
        floor := CASE WHEN force THEN NULL ELSE wal2queue.leaf_floor(leaf, h.reference, 'wal2queue.prune') END;
        CONTINUE WHEN NOT force AND floor IS NULL;
        -- without force, rows that may have been claim checks stay (point 7)
        cc_floor := CASE WHEN force THEN NULL ELSE wal2queue.claim_check_floor(leaf::regclass) END;
        deleted := wal2queue.delete_delivered(leaf::regclass, ARRAY[h.reference, h.from_xid, h.below_xid, floor]::xid8[],
                                              (batch - total)::bigint, cc_floor::bigint);
        total := total + deleted;
    END LOOP;
    RETURN total;
END
$$;

COMMENT ON FUNCTION wal2queue.prune(regclass, integer, boolean) IS
'delete up to BATCH rows of a job table that every registered slot selecting it has delivered; returns the count';
