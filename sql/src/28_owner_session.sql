-- sql/src/28_owner_session.sql -- act on a job table only where its owner's code gains nothing
-- (part of the wal2queue extension script: see 00_install.sql)

/*
 * owner_session(rel, caller, job_table) -- may create_partitions(),
 * maintain_partitions() or prune() (CALLER, the name said in the WARNING)
 * act on REL (the job table, or with JOB_TABLE given one of its
 * partitions)?  A table's owner writes code that runs as whoever reads,
 * writes, alters or deletes from the table: triggers and their WHEN
 * clauses, rules, policies, constraints and domain CHECKs, index and
 * statistics expressions, foreign key cascades into its other tables, the
 * query of a view.  Such code runs in full as the caller and may call any
 * function, trusted ones included, with any arguments (test/t/520, 527,
 * 528); judging it by who owns the functions it calls cannot work, and
 * SET ROLE to the owner is no sandbox (the code can RESET ROLE: only
 * PostgreSQL's security-restricted operations are one, which SQL cannot
 * enter: test/t/511).  So REL is acted on only when that gives its owner's
 * code no more rights than the owner has:
 *  (a) the owner is a superuser (its code is trusted), or
 *  (b) the session is the owner's own: current_user, session_user and the
 *      role the session logged in as (pg_stat_activity) are all the owner
 *      -- a member that SET ROLEs to the owner, or a superuser that SETs
 *      SESSION AUTHORIZATION to it, is refused, since the code could
 *      reset either back.
 * For a partition (JOB_TABLE not null) the caller must also hold its
 * owner's rights (a day a superuser left its own: test/t/523).  Else
 * false, with a WARNING naming the table, its owner and the caller, and a
 * HINT to run it in a session of the owner (pg_cron).  Raises an ERROR for
 * a relation that is neither a table nor a partitioned table (a view:
 * test/t/526).  One catalog lookup: cheap per leaf (test/t/524).
 */
CREATE FUNCTION wal2queue.owner_session(rel regclass, caller text, job_table regclass DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    o record;
    login name;
BEGIN
    SELECT c.relkind, r.rolname AS owner, r.rolsuper AS super INTO o
      FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
     WHERE c.oid = rel;
    IF NOT FOUND THEN
        RAISE EXCEPTION '%: relation % does not exist', caller, rel::oid
            USING ERRCODE = 'undefined_table';
    END IF;
    IF o.relkind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION '%: % is not a table', caller, rel
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = format('Its relkind is %L; only a table or a partitioned table is a job table.', o.relkind);
    END IF;
    IF NOT o.super AND o.owner = current_user AND o.owner = session_user THEN
        SELECT r.rolname INTO login
          FROM pg_stat_get_activity(pg_backend_pid()) a JOIN pg_roles r ON r.oid = a.usesysid;
    END IF;
    IF job_table IS NOT NULL
       AND NOT ((o.super OR coalesce(login = o.owner, false))
                AND pg_has_role(current_user, o.owner, 'USAGE')) THEN
        -- a partition another role owns (a day it created: test/t/523)
        RAISE WARNING '%: partition % of table % is skipped: it is owned by role %, and this call runs as role % in a session of role %',
            caller, rel, job_table, o.owner, current_user, coalesce(login, session_user)
            USING DETAIL = 'A partition of another owner than the session''s role cannot be locked, pruned or dropped by it, nor its code run with its rights.',
                  HINT = format('Give it to the table''s owner (as its owner or a superuser): ALTER TABLE %s OWNER TO %I.', rel,
                                (SELECT pg_get_userbyid(c.relowner) FROM pg_class c WHERE c.oid = job_table));
        RETURN false;
    END IF;
    IF NOT (o.super OR coalesce(login = o.owner, false)) THEN
        RAISE WARNING '%: table % is skipped: it is owned by role %, and this call runs as role % in a session of role %',
            caller, rel, o.owner, current_user, coalesce(login, session_user)
            USING DETAIL = format('The owner''s code (triggers, rules, policies, constraints, index expressions, foreign key cascades) would run with the rights of role %s, and SET ROLE is no sandbox: the code can reset it. Nothing was done to the table.',
                                  coalesce(login, session_user)),
                  HINT = format('Run it in a session of role %s, e.g. with pg_cron: SELECT cron.schedule_in_database(%L, ''<schedule>'', $cmd$SELECT %s(%L)$cmd$, current_database(), %L).',
                                o.owner, 'w2q ' || rel::text,
                                CASE WHEN caller = 'wal2queue.prune' THEN caller ELSE 'wal2queue.maintain_partitions' END,
                                rel::text, o.owner);
        RETURN false;
    END IF;
    RETURN true;
END
$$;

COMMENT ON FUNCTION wal2queue.owner_session(regclass, text, regclass) IS
'may maintenance act on a job table (or a partition of it)? only when its owner is a superuser or this is a session of the owner (else a WARNING says how to run it)';
