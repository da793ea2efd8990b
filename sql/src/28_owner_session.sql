-- sql/src/28_owner_session.sql -- act on a job table only where its owner's code gains nothing
-- (part of the wal2queue extension script: see 00_install.sql)

/*
 * owner_triggers(rel, caller, what) -- is every trigger that can run on REL
 * its owner's code?  owner_session() trusts the code on a table as its
 * owner's, but a trigger is not necessarily: the TRIGGER privilege (part
 * of GRANT ALL) lets another role add one calling its own function, and
 * prune()'s DELETE (even of no row: a statement trigger) would run it with
 * the caller's rights, a superuser's or the owner's own (test/t/541, 543).
 * pg_trigger records no creator, so two things are read:
 *  - the ACL: a role that holds TRIGGER on REL (PUBLIC, or a role that is
 *    not trusted, so members of a grantee group count) could add a
 *    trigger at any time;
 *  - the triggers: each one's function and the functions, operators and
 *    types its WHEN uses (pg_depend) must be owned by a trusted role (a
 *    trigger left by a former grantee is not).
 * Trusted: a superuser, a member of REL's owner (it can act as the owner),
 * and the owner of wal2queue's functions (their installer, e.g. the
 * administrator of a managed server: the caller runs its code already;
 * append_only()'s trigger calls its refuse_update(): test/t/018).
 * A former grantee's trigger that calls only trusted functions (builtins)
 * cannot be told from the owner's: the HINT says to look.  Other rights
 * of a non-owner add no code that the DELETE runs with the caller's
 * rights: rules, policies, indexes, statistics, inheritance and partitions
 * need ownership, and a REFERENCES grantee's ON DELETE action (and the
 * triggers of its table) runs as the referencing table's owner, under a
 * user-id change that SET ROLE cannot undo (test/t/559).  Else false with a
 * WARNING naming the grantees or the trigger (WHAT names REL for it).
 */
CREATE FUNCTION wal2queue.owner_triggers(rel regclass, caller text, what text)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    installer oid := (SELECT p.proowner FROM pg_proc p
                       WHERE p.oid = 'wal2queue.owner_triggers(regclass,text,text)'::regprocedure);
    grantees text;
    g record;
    t record;
    ident record;
BEGIN
    -- DISTINCT: a role granted it by two grantors is named once
    SELECT string_agg(DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END,
                      ', ' ORDER BY CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END) INTO grantees
      FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a
      LEFT JOIN pg_roles r ON r.oid = a.grantee
     WHERE c.oid = rel AND a.privilege_type = 'TRIGGER'
       AND (a.grantee = 0 OR NOT (r.rolsuper OR a.grantee = installer
                                   OR pg_has_role(a.grantee, c.relowner, 'MEMBER')));
    IF grantees IS NOT NULL THEN
        RAISE WARNING '%: % is skipped: % may create triggers on it (the TRIGGER privilege) without owning it',
            caller, what, grantees
            USING DETAIL = format('A trigger of another role than the owner would run with the rights of role %s, which that role does not have. Nothing was done to the table.', current_user),
                  HINT = format('Revoke it (as the table''s owner or a superuser): REVOKE TRIGGER ON %s FROM %s; then drop any trigger on the table that its owner did not create.', rel, grantees);
        RETURN false;
    END IF;
    -- per trigger, by the indexes (pg_trigger by tgrelid, pg_depend by
    -- depender): cheap per leaf (test/t/524)
    FOR g IN SELECT tr.oid, tr.tgname, tr.tgfoid, c.relowner
               FROM pg_trigger tr JOIN pg_class c ON c.oid = tr.tgrelid
              WHERE tr.tgrelid = rel ORDER BY tr.tgname LOOP
        SELECT x.cls, x.obj, x.owner INTO t
          FROM (SELECT y.cls, y.obj, CASE y.cls
                    WHEN 'pg_proc'::regclass THEN (SELECT p.proowner FROM pg_proc p WHERE p.oid = y.obj)
                    WHEN 'pg_operator'::regclass THEN (SELECT p.oprowner FROM pg_operator p WHERE p.oid = y.obj)
                    WHEN 'pg_type'::regclass THEN (SELECT p.typowner FROM pg_type p WHERE p.oid = y.obj)
                    END AS owner
                  FROM (SELECT 'pg_proc'::regclass AS cls, g.tgfoid AS obj
                        UNION
                        SELECT d.refclassid::regclass, d.refobjid FROM pg_depend d
                         WHERE d.classid = 'pg_trigger'::regclass AND d.objid = g.oid) y) x
         WHERE x.owner IS NOT NULL AND x.owner <> installer
           AND NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.oid = x.owner)
           AND NOT pg_has_role(x.owner, g.relowner, 'MEMBER')
         ORDER BY x.cls, x.obj
         LIMIT 1;
        CONTINUE WHEN NOT FOUND;
        SELECT i.type, i.identity INTO ident FROM pg_identify_object(t.cls, t.obj, 0) i;
        RAISE WARNING '%: % is skipped: its trigger % uses % of role %, which is not its owner %',
            caller, what, quote_ident(g.tgname), pg_describe_object(t.cls, t.obj, 0),
            quote_ident(pg_get_userbyid(t.owner)), quote_ident(pg_get_userbyid(g.relowner))
            USING DETAIL = format('The trigger would run that code with the rights of role %s, which role %s does not have (a role holding the TRIGGER privilege can add a trigger calling its own code). Nothing was done to the table.',
                                  current_user, pg_get_userbyid(t.owner)),
                  HINT = format('Drop the trigger if the table''s owner did not create it: DROP TRIGGER %I ON %s; or, if that code is the owner''s, give it to the owner: ALTER %s %s OWNER TO %I.',
                                g.tgname, rel, upper(ident.type), ident.identity, pg_get_userbyid(g.relowner));
        RETURN false;
    END LOOP;
    RETURN true;
END
$$;

COMMENT ON FUNCTION wal2queue.owner_triggers(regclass, text, text) IS
'are the triggers that can run on a job table its owner''s code? false, with a WARNING, when another role holds TRIGGER on it or a trigger uses another role''s function, operator or type';

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
 * HINT to run it in a session of the owner (pg_cron), or, for an owner
 * that cannot log in, to let it (ALTER ROLE ... LOGIN) or to give the
 * table to a role that can (test/t/544).  Both cases also need the code on
 * REL to be its owner's: owner_triggers() (test/t/541, 543).  Raises an ERROR for
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
    SELECT c.relkind, r.rolname AS owner, r.rolsuper AS super, r.rolcanlogin AS canlogin INTO o
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
    IF NOT (o.super OR coalesce(login = o.owner, false)) AND NOT o.canlogin THEN
        -- no session of the owner can exist (test/t/544)
        RAISE WARNING '%: table % is skipped: it is owned by role %, which cannot log in, and this call runs as role % in a session of role %',
            caller, rel, o.owner, current_user, coalesce(login, session_user)
            USING DETAIL = format('The owner''s code (triggers, rules, policies, constraints, index expressions, foreign key cascades) would run with the rights of role %s, and SET ROLE is no sandbox: the code can reset it. Only a session of role %s can run it, and role %s has NOLOGIN. Nothing was done to the table.',
                                  coalesce(login, session_user), o.owner, o.owner),
                  HINT = format('Let the owner log in for the maintenance job (ALTER ROLE %I LOGIN) and run it in a session of it, e.g. with pg_cron: SELECT cron.schedule_in_database(%L, ''<schedule>'', $cmd$SELECT %s(%L)$cmd$, current_database(), %L); or give the table to a role that can log in: ALTER TABLE %s OWNER TO <role>.',
                                o.owner, 'w2q ' || rel::text,
                                CASE WHEN caller = 'wal2queue.prune' THEN caller ELSE 'wal2queue.maintain_partitions' END,
                                rel::text, o.owner, rel);
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
    RETURN wal2queue.owner_triggers(rel, caller,
        CASE WHEN job_table IS NULL THEN format('table %s', rel)
             ELSE format('partition %s of table %s', rel, job_table) END);
END
$$;

COMMENT ON FUNCTION wal2queue.owner_session(regclass, text, regclass) IS
'may maintenance act on a job table (or a partition of it)? only when its owner is a superuser or this is a session of the owner (else a WARNING says how to run it)';
