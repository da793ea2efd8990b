-- sql/src/28_foreign_code.sql -- refuse a job table whose code is another role's
-- (part of the wal2queue extension script: see 00_install.sql)

/*
 * foreign_code(job_table, caller, deleting) -- would create_partitions(),
 * maintain_partitions() or prune() (CALLER, the name said in the WARNING)
 * run code of another role on JOB_TABLE?  True, with a WARNING naming the
 * table, the function, what calls it and its owner, when a function owned
 * by a role that is neither a superuser nor the current user is called by
 * (for the table and every table below it, pg_partition_tree()):
 *  - an index expression or predicate (the planner simplifies them when it
 *    loads them: test/t/510, 511),
 *  - a constraint (ATTACH PARTITION simplifies the CHECK constraints it
 *    proves the partition's bounds from: test/t/519),
 *  - a statistics object's expressions (the planner loads them),
 *  - a partition key expression, a column default or generated column
 *    (CREATE TABLE ... LIKE ... INCLUDING DEFAULTS, GENERATED copies them),
 *  - a row-security policy the caller is subject to (no superuser, no
 *    BYPASSRLS, not the owner or the table FORCEs it),
 *  - with DELETING (prune()'s DELETE): a user trigger on DELETE or an ON
 *    DELETE rule,
 * directly or through an operator.  Such code runs as the caller, in the
 * caller's session, where it may SET ROLE back to the session user:
 * switching to the table's owner is no sandbox (only PostgreSQL's
 * security-restricted operations are, which SQL cannot enter), so the
 * table is skipped instead (the backfill refuses it the same way,
 * bridge/backfill_sql.c).  The extension's own functions (schema
 * wal2queue, whose owner installed them) are trusted.  False when nothing
 * is found.
 *
 * The catalogs are read when called: the callers call it again under the
 * locks that keep the code as it is (test/t/510), except prune()'s ROW
 * EXCLUSIVE lock, which CREATE STATISTICS and CREATE INDEX CONCURRENTLY do
 * not wait for.
 */
CREATE FUNCTION wal2queue.foreign_code(job_table regclass, caller text, deleting boolean DEFAULT false)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    hit record;
    more bigint;
BEGIN
    WITH rels AS (
        SELECT c.oid AS relid, c.relowner, c.relrowsecurity, c.relforcerowsecurity,
               coalesce((SELECT t.level FROM pg_partition_tree(job_table) t WHERE t.relid = c.oid), 0) AS lvl
          FROM pg_class c
         WHERE c.oid = job_table::oid
            OR c.oid IN (SELECT t.relid FROM pg_partition_tree(job_table) t)),
    me AS (
        SELECT r.rolsuper OR r.rolbypassrls AS bypass FROM pg_roles r WHERE r.rolname = current_user),
    objs AS (
        SELECT rels.lvl, 'pg_class'::regclass AS cls, i.indexrelid AS oid, 0 AS sub,
               format('index %s', i.indexrelid::regclass) AS what
          FROM pg_index i JOIN rels ON i.indrelid = rels.relid
        UNION ALL
        SELECT rels.lvl, 'pg_constraint'::regclass, k.oid, 0,
               format('constraint %I of %s', k.conname, k.conrelid::regclass)
          FROM pg_constraint k JOIN rels ON k.conrelid = rels.relid
        UNION ALL
        SELECT rels.lvl, 'pg_statistic_ext'::regclass, s.oid, 0,
               format('statistics object %I.%I', s.stxnamespace::regnamespace, s.stxname)
          FROM pg_statistic_ext s JOIN rels ON s.stxrelid = rels.relid
        UNION ALL
        SELECT rels.lvl, 'pg_class'::regclass, rels.relid, -1, format('partition key of %s', rels.relid::regclass)
          FROM rels
        UNION ALL
        SELECT rels.lvl, 'pg_attrdef'::regclass, d.oid, 0,
               format('default or generated column %I of %s', a.attname, d.adrelid::regclass)
          FROM pg_attrdef d JOIN rels ON d.adrelid = rels.relid
          JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
        UNION ALL
        SELECT rels.lvl, 'pg_policy'::regclass, p.oid, 0, format('policy %I of %s', p.polname, p.polrelid::regclass)
          FROM pg_policy p JOIN rels ON p.polrelid = rels.relid, me
         WHERE rels.relrowsecurity AND NOT me.bypass
           AND (rels.relforcerowsecurity OR NOT pg_has_role(current_user, rels.relowner, 'USAGE'))
        UNION ALL
        SELECT rels.lvl, 'pg_trigger'::regclass, g.oid, 0, format('trigger %I of %s', g.tgname, g.tgrelid::regclass)
          FROM pg_trigger g JOIN rels ON g.tgrelid = rels.relid
         WHERE deleting AND NOT g.tgisinternal AND g.tgenabled <> 'D' AND g.tgtype::integer & 8 <> 0
        UNION ALL
        SELECT rels.lvl, 'pg_rewrite'::regclass, w.oid, 0, format('rule %I of %s', w.rulename, w.ev_class::regclass)
          FROM pg_rewrite w JOIN rels ON w.ev_class = rels.relid
         WHERE deleting AND w.ev_type = '4'),
    procs AS (
        SELECT o.lvl, o.what, CASE WHEN d.refclassid = 'pg_proc'::regclass THEN d.refobjid
                            ELSE (SELECT op.oprcode::oid FROM pg_operator op WHERE op.oid = d.refobjid) END AS proc
          FROM objs o JOIN pg_depend d ON d.classid = o.cls AND d.objid = o.oid
                                      AND (o.sub >= 0 OR d.objsubid = 0)
         WHERE d.refclassid IN ('pg_proc'::regclass, 'pg_operator'::regclass)),
    bad AS (
        SELECT DISTINCT c.lvl, c.what, p.oid::regprocedure AS func, r.rolname AS owner
          FROM procs c JOIN pg_proc p ON p.oid = c.proc
          JOIN pg_roles r ON r.oid = p.proowner
         WHERE NOT r.rolsuper AND r.rolname <> current_user
           AND p.pronamespace <> 'wal2queue'::regnamespace)
    SELECT b.what, b.func, b.owner, (SELECT count(DISTINCT (x.what, x.func)) FROM bad x) - 1 AS others INTO hit
      FROM bad b ORDER BY b.lvl, b.what, b.func::text LIMIT 1;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    more := hit.others;
    RAISE WARNING '%: table % is skipped: its % calls function %, owned by role %',
        caller, job_table, hit.what, hit.func, hit.owner
        USING DETAIL = format('%s would run that function as role %s; code of another role running in this session can act as its session user (SET ROLE is no sandbox), so nothing was done to the table.%s',
                              caller, current_user,
                              CASE WHEN more > 0 THEN format(' %s such calls in all.', more + 1) ELSE '' END),
              HINT = format('Make a superuser own the function (ALTER FUNCTION %s OWNER TO a superuser), or run %s() as role %I.',
                            hit.func, caller, hit.owner);
    RETURN true;
END
$$;

COMMENT ON FUNCTION wal2queue.foreign_code(regclass, text, boolean) IS
'does maintaining or pruning a job table run a function of a role that is neither a superuser nor the caller? (then a WARNING names it)';
