-- sql/src/28_owner_session.sql -- act on a job table only where its owner's code gains nothing
-- (part of the wal2queue extension script: see 00_install.sql)

/*
 * owner_code(rel, caller, what, runs_as, via) -- is the code a write of
 * REL runs, besides its triggers (owner_triggers()), code of roles trusted
 * as owner_triggers() trusts them (a superuser, wal2queue's installer, a
 * member of RUNS_AS -- with VIA also of current_user)?  A write runs more
 * than triggers, and the roles that own that code can change it at any
 * time: a domain's owner adds a CHECK (ALTER DOMAIN ... ADD CONSTRAINT,
 * even to a domain that has none today), a function's owner replaces its
 * body (CREATE OR REPLACE), an operator's or operator class's owner its
 * parts.  So a foreign key's ON DELETE SET NULL into a superuser's table
 * whose key column is of another role's domain ran that role's CHECK as
 * the superuser at the next prune() (test/t/632), and so would a column
 * DEFAULT (SET DEFAULT), a CHECK constraint or an index expression calling
 * its function.  What the write can run is read positively, as a closure
 * over pg_depend, which records every object a stored expression or
 * definition uses (except pinned, built-in ones, which need no judging):
 *  - the parts of REL: its columns (their types, collations) and the
 *    table itself (partition key: its expressions and operator classes;
 *    the type of a typed table), the default and generation expression of
 *    each column (pg_attrdef), its constraints (CHECK, and its foreign
 *    keys: the equality operators the action's query compares with, the
 *    referenced table and index; not for prune()'s DELETE of the job
 *    table or a partition, which never checks them: test/t/694), its
 *    indexes (expressions, predicates,
 *    operator classes: a unique check and the new entries of an UPDATE),
 *    rules and policies;
 *  - and, transitively, what each object found uses (pg_depend), with
 *    what is not recorded as used but runs with it: the constraints of a
 *    type (a domain's CHECKs: their owner is the domain's), the operators
 *    and support functions of an operator family, an operator's commutator
 *    and negator (the planner may use them).  A type's input, output and
 *    other support functions, a domain's base type, an array's element, a
 *    range's subtype
 *    and functions, a cast's function, an operator's function and
 *    estimators are recorded, and so followed; a composite's attributes
 *    are columns of its pg_class row, which depends on the type (not the
 *    type on it): followed from the type's typrelid (test/t/675).
 * A view found is followed to its query (its _RETURN rule, which depends
 * on the view), a table with row level security to its policies.
 * Every function, operator, type, operator class and family, text search
 * configuration and dictionary, view and table with row level security
 * (their owner replaces the query, the policies: test/t/673) so found
 * must be owned by a trusted role,
 * but an enum type: its owner can only add and rename labels, and create
 * casts, whose functions are judged: the functions of the casts from or
 * to every type found are followed, since nothing records a use of a
 * cast while a key between columns of two types casts at run time
 * (test/t/671, 672).
 * Not judged: schemas, languages, collations, access methods, extensions
 * and relations as such (their owner cannot change code that runs here
 * without one of the objects above; a relation's columns are followed).
 * A rule of REL other than a SELECT one that names another table (an ON
 * DELETE DO ALSO INSERT INTO an archive) refuses REL outright: the tables
 * it writes run their own triggers as the caller, and are not followed
 * (test/t/677).
 * The table's own triggers are owner_triggers()'s; what the owner's code
 * writes elsewhere is the owner's (docs/extension.md).  Else false with a
 * WARNING naming the part of REL, the object, its owner and the role it
 * would run as (WHAT names the job table), and a HINT.  A few index scans
 * of the catalogs per object found: cheap per leaf (test/t/524).
 */
CREATE FUNCTION wal2queue.owner_code(rel regclass, caller text, what text,
                                     runs_as oid DEFAULT NULL, via text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
-- the recursive query's estimate is far above what it reads (a few
-- catalog rows): JIT would compile it, a second per call (test/t/524)
SET jit = off
AS $$
DECLARE
    installer oid := (SELECT p.proowner FROM pg_proc p
                       WHERE p.oid = 'wal2queue.owner_code(regclass,text,text,oid,text)'::regprocedure);
    relowner oid := (SELECT c.relowner FROM pg_class c WHERE c.oid = rel);
    runner oid := coalesce(runs_as, relowner);
    me oid := (SELECT r.oid FROM pg_roles r WHERE r.rolname = current_user);
    followed oid[] := ARRAY['pg_proc'::regclass, 'pg_operator'::regclass, 'pg_type'::regclass,
                            'pg_opclass'::regclass, 'pg_opfamily'::regclass, 'pg_class'::regclass,
                            'pg_constraint'::regclass, 'pg_cast'::regclass, 'pg_ts_config'::regclass,
                            'pg_ts_dict'::regclass, 'pg_rewrite'::regclass, 'pg_policy'::regclass]::oid[];
    t record;
    ident record;
    used text;
    obj text;
    rul record;
BEGIN
    -- a rule that writes another table (ON DELETE DO ALSO INSERT INTO an
    -- archive) makes the write run that table's triggers, rules and
    -- keys' actions as well, as the caller: not followed, refused
    -- (test/t/677)
    SELECT w.rulename, d.refobjid::regclass AS target INTO rul
      FROM pg_rewrite w JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid
     WHERE w.ev_class = rel AND w.ev_type <> '1'
       AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> rel
     ORDER BY w.rulename, d.refobjid
     LIMIT 1;
    IF FOUND THEN
        RAISE WARNING '%: % is skipped: rule % of % names table %, which a write of that table may write too',
            caller, what, quote_ident(rul.rulename),
            CASE WHEN via IS NULL THEN format('table %s', rel) ELSE format('table %s (%s)', rel, via) END,
            rul.target
            USING DETAIL = 'The tables a rule writes run their own triggers, rules and foreign keys'' actions within the write, with the rights of its caller; wal2queue does not follow them. Nothing was done to the table.',
                  HINT = format('Fill the other table from a trigger of the owner''s instead (docs/extension.md), or drop the rule: DROP RULE %I ON %s.',
                                rul.rulename, rel);
        RETURN false;
    END IF;
    WITH RECURSIVE code(part, cls, obj) AS (
        SELECT CASE WHEN d.objsubid = 0 THEN NULL
                    ELSE format('column %I', (SELECT a.attname FROM pg_attribute a
                                               WHERE a.attrelid = rel AND a.attnum = d.objsubid)) END,
               d.refclassid, d.refobjid
          FROM pg_depend d
         WHERE d.classid = 'pg_class'::regclass AND d.objid = rel AND d.deptype IN ('n', 'a', 'i')
           AND d.refclassid = ANY (followed)
        UNION
        SELECT format('the %s of column %I', CASE WHEN a.attgenerated = '' THEN 'default' ELSE 'generation expression' END,
                      a.attname),
               'pg_attrdef'::regclass, ad.oid
          FROM pg_attrdef ad JOIN pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
         WHERE ad.adrelid = rel AND via IS NOT NULL  -- run only by a key's action (copied by LIKE, never run by a DELETE: test/t/529)
        UNION
        -- prune()'s DELETE of the job table (or of a partition) never
        -- checks the table's own foreign keys (only an INSERT or UPDATE
        -- of the referencing row does): not followed to the tables they
        -- reference (test/t/694); other writes and maintenance follow them
        SELECT format('constraint %I', k.conname), 'pg_constraint'::regclass, k.oid
          FROM pg_constraint k WHERE k.conrelid = rel
           AND NOT (k.contype = 'f' AND via IS NULL AND caller = 'wal2queue.prune')
        UNION
        SELECT format('index %s', i.indexrelid::regclass), 'pg_class'::regclass, i.indexrelid
          FROM pg_index i WHERE i.indrelid = rel
        UNION
        SELECT format('rule %I', w.rulename), 'pg_rewrite'::regclass, w.oid
          FROM pg_rewrite w WHERE w.ev_class = rel
        UNION
        SELECT format('policy %I', p.polname), 'pg_policy'::regclass, p.oid
          FROM pg_policy p WHERE p.polrelid = rel
        UNION
        SELECT c.part, x.cls, x.obj
          FROM code c
          CROSS JOIN LATERAL (
                SELECT d.refclassid AS cls, d.refobjid AS obj FROM pg_depend d
                 WHERE d.classid = c.cls AND d.objid = c.obj AND d.deptype IN ('n', 'a', 'i')
                UNION ALL
                SELECT 'pg_constraint'::regclass, k.oid FROM pg_constraint k
                 WHERE c.cls = 'pg_type'::regclass AND k.contypid = c.obj
                UNION ALL
                -- the functions of the casts from or to a type (an enum's
                -- too): no object records a dependency on a cast, and a
                -- key's query between columns of two types casts one to
                -- the other by name at run time (test/t/671, 672)
                SELECT 'pg_proc'::regclass, k.castfunc FROM pg_cast k
                 WHERE c.cls = 'pg_type'::regclass AND (k.castsource = c.obj OR k.casttarget = c.obj)
                   AND k.castfunc <> 0
                UNION ALL
                -- a view's query (its _RETURN rule depends on the view,
                -- not the view on it) and the policies of a table with
                -- row level security: the code reading them runs
                -- (test/t/673); their owner is judged below
                SELECT 'pg_rewrite'::regclass, w.oid FROM pg_rewrite w JOIN pg_class v ON v.oid = w.ev_class
                 WHERE c.cls = 'pg_class'::regclass AND w.ev_class = c.obj AND v.relkind = 'v'
                UNION ALL
                SELECT 'pg_policy'::regclass, p.oid FROM pg_policy p JOIN pg_class v ON v.oid = p.polrelid
                 WHERE c.cls = 'pg_class'::regclass AND p.polrelid = c.obj AND v.relrowsecurity
                UNION ALL
                -- a composite's attributes: the columns of its pg_class
                -- row, which depends on the type, not the type on it
                -- (a standalone composite: test/t/675)
                SELECT 'pg_class'::regclass, y.typrelid FROM pg_type y
                 WHERE c.cls = 'pg_type'::regclass AND y.oid = c.obj AND y.typrelid <> 0
                UNION ALL
                SELECT 'pg_operator'::regclass, o.amopopr FROM pg_amop o
                 WHERE c.cls = 'pg_opfamily'::regclass AND o.amopfamily = c.obj
                UNION ALL
                SELECT 'pg_proc'::regclass, p.amproc FROM pg_amproc p
                 WHERE c.cls = 'pg_opfamily'::regclass AND p.amprocfamily = c.obj
                UNION ALL
                SELECT 'pg_operator'::regclass, y.opr
                  FROM pg_operator o CROSS JOIN LATERAL (VALUES (o.oprcom), (o.oprnegate)) y(opr)
                 WHERE c.cls = 'pg_operator'::regclass AND o.oid = c.obj AND y.opr <> 0) x
         WHERE x.cls = ANY (followed)
    )
    SELECT x.part, x.cls, x.obj, x.owner INTO t
      FROM (SELECT c.part, c.cls, c.obj, CASE c.cls
                WHEN 'pg_proc'::regclass THEN (SELECT p.proowner FROM pg_proc p WHERE p.oid = c.obj)
                WHEN 'pg_operator'::regclass THEN (SELECT p.oprowner FROM pg_operator p WHERE p.oid = c.obj)
                -- an enum's owner only adds and renames labels (its casts
                -- are followed); its array type, owned with it, cannot be
                -- altered at all (test/t/691)
                WHEN 'pg_type'::regclass THEN (SELECT p.typowner FROM pg_type p WHERE p.oid = c.obj AND p.typtype <> 'e'
                                                  AND NOT (p.typtype = 'b' AND p.typsubscript = 'array_subscript_handler'::regproc
                                                           AND EXISTS (SELECT FROM pg_type e WHERE e.oid = p.typelem AND e.typtype = 'e'
                                                                                                AND e.typarray = p.oid)))
                WHEN 'pg_opclass'::regclass THEN (SELECT p.opcowner FROM pg_opclass p WHERE p.oid = c.obj)
                WHEN 'pg_opfamily'::regclass THEN (SELECT p.opfowner FROM pg_opfamily p WHERE p.oid = c.obj)
                WHEN 'pg_ts_config'::regclass THEN (SELECT p.cfgowner FROM pg_ts_config p WHERE p.oid = c.obj)
                WHEN 'pg_ts_dict'::regclass THEN (SELECT p.dictowner FROM pg_ts_dict p WHERE p.oid = c.obj)
                -- a view's owner replaces its query, a table's owner its
                -- policies (CREATE OR REPLACE VIEW, ALTER POLICY: test/t/673)
                WHEN 'pg_class'::regclass THEN (SELECT p.relowner FROM pg_class p
                                                 WHERE p.oid = c.obj AND (p.relkind = 'v' OR p.relrowsecurity))
                END AS owner
              FROM code c) x
     WHERE x.owner IS NOT NULL AND x.owner <> installer
       AND NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.oid = x.owner)
       AND NOT (pg_has_role(x.owner, runner, 'MEMBER')
                AND (via IS NULL OR pg_has_role(x.owner, me, 'MEMBER')))
     ORDER BY x.part NULLS FIRST, x.cls, x.obj
     LIMIT 1;
    IF NOT FOUND THEN
        RETURN true;
    END IF;
    SELECT i.type, i.identity INTO ident FROM pg_identify_object(t.cls, t.obj, 0) i;
    IF t.cls = 'pg_type'::regclass AND (SELECT y.typtype FROM pg_type y WHERE y.oid = t.obj) = 'd' THEN
        ident.type := 'domain';
    END IF;
    obj := format('%s %s', ident.type, ident.identity);
    used := coalesce(t.part || ' of ', '')
            || CASE WHEN via IS NULL THEN format('table %s', rel) ELSE format('table %s (%s)', rel, via) END;
    RAISE WARNING '%: % is skipped: % uses % of role %, which could change it at any time, and a write of that table (or a foreign key''s check reading it) would run it as role %',
        caller, what, used, obj, quote_ident(pg_get_userbyid(t.owner)),
        quote_ident(pg_get_userbyid(CASE WHEN pg_has_role(t.owner, runner, 'MEMBER') THEN me ELSE runner END))
        USING DETAIL = format('Besides triggers, a write runs the code of the table''s column types (a domain''s CHECKs, which its owner can add with ALTER DOMAIN ... ADD CONSTRAINT), defaults, constraints, indexes, rules and policies, and of the functions, operators and operator classes they use, %s; role %s does not have those rights. Nothing was done to the table.',
                              CASE WHEN via IS NULL THEN format('with the rights of role %s', pg_get_userbyid(runner))
                                   ELSE format('with the rights of role %s (a foreign key''s action runs as the owner of the key''s table), and within the DELETE of role %s',
                                               pg_get_userbyid(runner), current_user) END,
                              pg_get_userbyid(t.owner)),
              HINT = format('If that code is trusted, give it to the owner of table %s (as its owner or a superuser): ALTER %s %s OWNER TO %I; else make that table stop using it (ALTER TABLE %s ...).',
                            rel, upper(ident.type), ident.identity, pg_get_userbyid(runner), rel);
    RETURN false;
END
$$;

COMMENT ON FUNCTION wal2queue.owner_code(regclass, text, text, oid, text) IS
'is the code a write of a job table (or of a table its DELETE writes through a foreign key) runs besides triggers -- column types and domains, defaults, constraints, indexes, rules, policies and what they use -- owned by a trusted role? false, with a WARNING, when another role''s';

/*
 * owner_triggers(rel, caller, what, runs_as, via) -- is every trigger that
 * can run on REL code of the role it runs as, or of a role trusted with
 * that role's rights?  owner_session() trusts the code on a table as its
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
 * Trusted: a superuser, a member of REL's owner (it can act as the owner
 * anyway) and the owner of wal2queue's functions (their installer, e.g.
 * the administrator of a managed server: the caller runs its code
 * already; append_only()'s trigger calls its refuse_update(): test/t/018).
 * RUNS_AS and VIA are given for a table that prune()'s DELETE writes
 * through a foreign key's referential action (owner_cascades()): the
 * action's query, and the BEFORE triggers it fires, run as the owner of
 * the key's table, RUNS_AS, and the AFTER triggers it fires run at the end
 * of the DELETE as the caller (ri_triggers.c queues them: fire_triggers is
 * false).  Trusted is then who is trusted with both roles' rights: a
 * superuser, the installer, or a member of RUNS_AS and of current_user;
 * and REL's owner must be trusted too, since it can add triggers at any
 * time (a REFERENCES grantee's own table: test/t/559; a partition of
 * another owner).  VIA says how the DELETE reaches REL, WHAT names the job
 * table.
 * A former grantee's trigger that calls only trusted functions (builtins)
 * cannot be told from the owner's: the HINT says to look.  Other rights
 * of a non-owner add no code that the DELETE of REL itself runs with the
 * caller's rights: rules, policies, indexes, statistics, inheritance and
 * partitions need ownership; a REFERENCES grantee's foreign key makes the
 * DELETE write its table, which owner_cascades() judges (test/t/559, 580).
 * Else false with a WARNING naming the grantees, the trigger or the owner
 * (WHAT names REL for it, or with VIA the job table).  Then the code a
 * write of REL runs besides triggers is judged by owner_code(), with the
 * same trust (test/t/632).
 */
CREATE FUNCTION wal2queue.owner_triggers(rel regclass, caller text, what text,
                                         runs_as oid DEFAULT NULL, via text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    installer oid := (SELECT p.proowner FROM pg_proc p
                       WHERE p.oid = 'wal2queue.owner_triggers(regclass,text,text,oid,text)'::regprocedure);
    relowner oid := (SELECT c.relowner FROM pg_class c WHERE c.oid = rel);
    runner oid := coalesce(runs_as, relowner);
    -- with VIA, an AFTER trigger runs as the caller: trusted must then
    -- also be trusted with the caller's rights
    me oid := (SELECT r.oid FROM pg_roles r WHERE r.rolname = current_user);
    -- how the WARNING names REL: "it", or the table the DELETE writes
    target text := CASE WHEN via IS NULL THEN 'it' ELSE format('table %s (%s)', rel, via) END;
    grantees text;
    g record;
    t record;
    ident record;
BEGIN
    -- a table written through a foreign key: its owner (the key's table's,
    -- or a partition's) may add triggers at any time, BEFORE ones running
    -- as RUNNER, AFTER ones as the caller
    IF via IS NOT NULL AND relowner <> installer
       AND NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.oid = relowner)
       AND NOT (pg_has_role(relowner, runner, 'MEMBER') AND pg_has_role(relowner, me, 'MEMBER')) THEN
        RAISE WARNING '%: % is skipped: % is owned by role %, which can add triggers to it that would run as role %',
            caller, what, target, quote_ident(pg_get_userbyid(relowner)),
            quote_ident(pg_get_userbyid(CASE WHEN pg_has_role(relowner, runner, 'MEMBER') THEN me ELSE runner END))
            USING DETAIL = format('A foreign key''s action runs its query, and the BEFORE triggers it fires, as the owner of the key''s table (role %s), and the AFTER triggers it fires at the end of the DELETE as its caller (role %s). Nothing was done to the table.',
                                  pg_get_userbyid(runner), current_user),
                  HINT = CASE WHEN relowner <> runner
                         THEN format('Give it to the owner of the key''s table (as its owner or a superuser): ALTER TABLE %s OWNER TO %I.',
                                     rel, pg_get_userbyid(runner))
                         ELSE format('Drop that foreign key or make its ON DELETE action NO ACTION (as the owner of table %s or a superuser), and revoke the REFERENCES privilege on the job table from role %I; or give table %s to a role trusted with the rights of role %I.',
                                     rel, pg_get_userbyid(relowner), rel, current_user) END;
        RETURN false;
    END IF;
    -- DISTINCT: a role granted it by two grantors is named once
    SELECT string_agg(DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END,
                      ', ' ORDER BY CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END) INTO grantees
      FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a
      LEFT JOIN pg_roles r ON r.oid = a.grantee
     WHERE c.oid = rel AND a.privilege_type = 'TRIGGER'
       AND (a.grantee = 0 OR NOT (r.rolsuper OR a.grantee = installer
                                   OR (pg_has_role(a.grantee, runner, 'MEMBER')
                                       AND (via IS NULL OR pg_has_role(a.grantee, me, 'MEMBER')))));
    IF grantees IS NOT NULL AND via IS NULL THEN
        RAISE WARNING '%: % is skipped: % may create triggers on it (the TRIGGER privilege) without owning it',
            caller, what, grantees
            USING DETAIL = format('A trigger of another role than the owner would run with the rights of role %s, which that role does not have. Nothing was done to the table.', current_user),
                  HINT = format('Revoke it (as the table''s owner or a superuser): REVOKE TRIGGER ON %s FROM %s; then drop any trigger on the table that its owner did not create.', rel, grantees);
        RETURN false;
    ELSIF grantees IS NOT NULL THEN
        RAISE WARNING '%: % is skipped: % may create triggers on % without owning it (the TRIGGER privilege)',
            caller, what, grantees, target
            USING DETAIL = format('A BEFORE trigger of another role would run with the rights of role %s (a foreign key''s action runs as the owner of the key''s table), an AFTER trigger with those of role %s (the caller), which that role does not have. Nothing was done to the table.',
                                  pg_get_userbyid(runner), current_user),
                  HINT = format('Revoke it (as that table''s owner or a superuser): REVOKE TRIGGER ON %s FROM %s; then drop any trigger on that table that its owner did not create.', rel, grantees);
        RETURN false;
    END IF;
    -- per trigger, by the indexes (pg_trigger by tgrelid, pg_depend by
    -- depender): cheap per leaf (test/t/524)
    FOR g IN SELECT tr.oid, tr.tgname, tr.tgfoid
               FROM pg_trigger tr
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
           AND NOT (pg_has_role(x.owner, runner, 'MEMBER')
                    AND (via IS NULL OR pg_has_role(x.owner, me, 'MEMBER')))
         ORDER BY x.cls, x.obj
         LIMIT 1;
        CONTINUE WHEN NOT FOUND;
        SELECT i.type, i.identity INTO ident FROM pg_identify_object(t.cls, t.obj, 0) i;
        IF via IS NULL THEN
            RAISE WARNING '%: % is skipped: its trigger % uses % of role %, which is not its owner %',
                caller, what, quote_ident(g.tgname), pg_describe_object(t.cls, t.obj, 0),
                quote_ident(pg_get_userbyid(t.owner)), quote_ident(pg_get_userbyid(runner))
                USING DETAIL = format('The trigger would run that code with the rights of role %s, which role %s does not have (a role holding the TRIGGER privilege can add a trigger calling its own code). Nothing was done to the table.',
                                      current_user, pg_get_userbyid(t.owner)),
                      HINT = format('Drop the trigger if the table''s owner did not create it: DROP TRIGGER %I ON %s; or, if that code is the owner''s, give it to the owner: ALTER %s %s OWNER TO %I.',
                                    g.tgname, rel, upper(ident.type), ident.identity, pg_get_userbyid(runner));
        ELSE
            RAISE WARNING '%: % is skipped: trigger % of % uses % of role %, and would run it as role %',
                caller, what, quote_ident(g.tgname), target, pg_describe_object(t.cls, t.obj, 0),
                quote_ident(pg_get_userbyid(t.owner)),
                quote_ident(pg_get_userbyid(CASE WHEN pg_has_role(t.owner, runner, 'MEMBER') THEN me ELSE runner END))
                USING DETAIL = format('A BEFORE trigger would run that code with the rights of role %s (a foreign key''s action runs as the owner of the key''s table), an AFTER trigger with those of role %s (the caller), which role %s does not have (a role holding the TRIGGER privilege can add a trigger calling its own code). Nothing was done to the table.',
                                      pg_get_userbyid(runner), current_user, pg_get_userbyid(t.owner)),
                      HINT = format('Drop the trigger if that table''s owner did not create it: DROP TRIGGER %I ON %s; or, if that code is the owner''s, give it to the owner: ALTER %s %s OWNER TO %I.',
                                    g.tgname, rel, upper(ident.type), ident.identity, pg_get_userbyid(runner));
        END IF;
        RETURN false;
    END LOOP;
    -- and the code a write runs besides triggers (test/t/632)
    RETURN wal2queue.owner_code(rel, caller, what, runs_as, via);
END
$$;

COMMENT ON FUNCTION wal2queue.owner_triggers(regclass, text, text, oid, text) IS
'are the triggers that can run on a job table (or on a table its DELETE writes through a foreign key) code of the role they run as? false, with a WARNING, when another role holds TRIGGER on it or a trigger uses another role''s function, operator or type';

/*
 * owner_cascades(job_table, caller) -- may prune()'s DELETE from JOB_TABLE
 * (CALLER, the name said in the WARNING) set off the referential actions
 * of the foreign keys onto it?  A key ON DELETE CASCADE, SET NULL or SET
 * DEFAULT deletes or updates rows of its referencing table, and so fires
 * that table's triggers (and those of its partitions), and the actions of
 * the keys onto it in turn (ON DELETE for a row deleted, ON UPDATE for one
 * updated), transitively.  PostgreSQL runs each action's query as the
 * owner of the key's referencing table (ri_triggers.c, a
 * security-restricted user-id change), and so the BEFORE triggers it
 * fires; the AFTER triggers it fires are queued and run at the end of the
 * DELETE as its caller.  So a role other than those that holds TRIGGER on
 * such a table (GRANT ALL on a superuser's results table) would get the
 * owner's or the caller's rights, a superuser's at the next scheduled
 * prune() (test/t/580), and so would the owner of the table itself if
 * it is not trusted with the caller's rights: a REFERENCES grantee's own
 * table, whose AFTER trigger runs as the caller (test/t/559).  Each table
 * so written, from every action trigger on the job table or any of its
 * partitions, is judged by owner_triggers() with RUNS_AS the owner of the
 * key's table (and so by owner_code(): the domains, defaults,
 * constraints and indexes the action's UPDATE or DELETE runs, and the
 * key's equality operators its query compares with: test/t/632).  What
 * the owner's own triggers write (an archive table
 * filled by its AFTER DELETE trigger) is the owner's code: it cannot be
 * read from the catalogs, and docs/extension.md says to keep TRIGGER on
 * such a table to roles trusted with the caller's rights.  Else false
 * with the WARNING of owner_triggers() naming the table, the key and the
 * role.  A key with NO ACTION or RESTRICT for the write onto a table
 * written writes nothing, but its check query reads its table as that
 * table's owner: that table is judged by owner_code() as run by its
 * owner (test/t/672).  Each table written is locked (ROW EXCLUSIVE, if
 * the caller may) before any is judged, until no new one appears, so a
 * key or trigger added meanwhile waits for the DELETE (test/t/670).  One
 * recursive catalog query per round, a scan of pg_constraint per level
 * (1000 leaves: some 30 ms, test/t/524).
 */
CREATE FUNCTION wal2queue.owner_cascades(job_table regclass, caller text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    reached record;
    rels regclass[];
    runners oid[];
    vias text[];
    writes boolean[];
    locked oid[] := '{}';
    fresh oid[];
    one oid;
    installer oid := (SELECT p.proowner FROM pg_proc p
                       WHERE p.oid = 'wal2queue.owner_cascades(regclass,text)'::regprocedure);
    me oid := (SELECT r.oid FROM pg_roles r WHERE r.rolname = current_user);
BEGIN
    -- lock what the DELETE writes before judging it, until no new table
    -- appears: a key added onto a table written (ADD FOREIGN KEY takes
    -- SHARE ROW EXCLUSIVE on it) or a trigger added to it waits for the
    -- DELETE (test/t/670); a table the caller may not lock is judged
    -- unlocked
    LOOP
        rels := '{}';
        runners := '{}';
        vias := '{}';
        writes := '{}';
        FOR reached IN
            WITH RECURSIVE written(tab, op, con) AS (
                -- what the DELETE itself writes: the job table and its partitions
                SELECT s.relid, 'd'::text, 0::oid
                  FROM (SELECT job_table::oid AS relid
                        UNION SELECT p.relid::oid FROM pg_partition_tree(job_table) p) s
                UNION
                -- what the referential actions of the keys onto it write: the
                -- key's table (a partitioned one with its partitions, below);
                -- a key whose action is not NO ACTION or RESTRICT for the
                -- write (ON DELETE for a table deleted from, else ON UPDATE),
                -- with an action trigger on the table written (a key of a
                -- referencing partition, cloned from its parent's, has none);
                -- a key with NO ACTION or RESTRICT writes nothing, but its
                -- check query reads its table as that table's owner (the key
                -- columns' types, equality operators and casts: test/t/672):
                -- 'c', not followed further
                SELECT k.conrelid,
                       CASE WHEN CASE WHEN w.op = 'd' THEN k.confdeltype ELSE k.confupdtype END IN ('a', 'r') THEN 'c'
                            WHEN w.op = 'd' AND k.confdeltype = 'c' THEN 'd' ELSE 'u' END,
                       k.oid
                  FROM written w
                  CROSS JOIN LATERAL (SELECT w.tab AS relid
                                      UNION SELECT p.relid::oid FROM pg_partition_tree(w.tab::regclass) p
                                             WHERE w.con <> 0) r
                  JOIN pg_constraint k ON k.confrelid = r.relid AND k.contype = 'f'
                 WHERE w.op <> 'c'
                   AND EXISTS (SELECT FROM pg_trigger tr WHERE tr.tgconstraint = k.oid AND tr.tgrelid = k.confrelid))
            (SELECT DISTINCT ON (r.relid, c.relowner) r.relid::regclass AS rel, c.relowner AS runs_as, true AS writes,
                   CASE WHEN r.relid = w.tab
                        THEN format('the DELETE writes it through its foreign key %I as role %I',
                                    k.conname, pg_get_userbyid(c.relowner))
                        ELSE format('the DELETE writes it as a partition of table %s, through that table''s foreign key %I, as role %I',
                                    w.tab::regclass, k.conname, pg_get_userbyid(c.relowner)) END AS via
              FROM written w
              JOIN pg_class c ON c.oid = w.tab
              JOIN pg_constraint k ON k.oid = w.con
              CROSS JOIN LATERAL (SELECT w.tab AS relid
                                  UNION SELECT p.relid::oid FROM pg_partition_tree(w.tab::regclass) p) r
             WHERE w.con <> 0 AND w.op <> 'c'
             ORDER BY r.relid, c.relowner, k.oid)
            UNION ALL
            (SELECT DISTINCT ON (r.relid, c.relowner) r.relid::regclass AS rel, c.relowner AS runs_as, false AS writes,
                    format('table %s (the check of foreign key %I of table %s reads it as role %I)',
                           job_table, k.conname, w.tab::regclass, pg_get_userbyid(c.relowner)) AS via
               FROM written w
               JOIN pg_class c ON c.oid = w.tab
               JOIN pg_constraint k ON k.oid = w.con
               CROSS JOIN LATERAL (SELECT w.tab AS relid
                                   UNION SELECT p.relid::oid FROM pg_partition_tree(w.tab::regclass) p) r
              WHERE w.op = 'c')
        LOOP
            rels := rels || reached.rel;
            runners := runners || reached.runs_as;
            vias := vias || reached.via;
            writes := writes || reached.writes;
        END LOOP;
        fresh := ARRAY(SELECT DISTINCT x.rel FROM unnest(rels::oid[], writes) x(rel, w)
                        WHERE x.w AND x.rel <> ALL (locked) ORDER BY x.rel);
        EXIT WHEN cardinality(fresh) = 0;
        FOREACH one IN ARRAY fresh LOOP
            IF has_table_privilege(one, 'INSERT, UPDATE, DELETE, TRUNCATE') THEN
                EXECUTE format('LOCK TABLE ONLY %s IN ROW EXCLUSIVE MODE', one::regclass);
            END IF;
        END LOOP;
        locked := locked || fresh;
    END LOOP;
    FOR i IN 1 .. cardinality(rels) LOOP
        IF writes[i] THEN
            IF NOT wal2queue.owner_triggers(rels[i], caller, format('table %s', job_table),
                                            runners[i], vias[i]) THEN
                RETURN false;
            END IF;
        -- a table a key's check reads, as its owner: its owner must be
        -- trusted with the caller's rights, since its code runs inside the
        -- caller's session and may change the session's settings (a plain
        -- SET search_path outlives the DELETE: test/t/693); conservative
        ELSIF runners[i] <> installer
              AND NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.oid = runners[i])
              AND NOT pg_has_role(runners[i], me, 'MEMBER') THEN
            RAISE WARNING '%: % is skipped: role % is not trusted with the rights of role %',
                caller, vias[i], quote_ident(pg_get_userbyid(runners[i])), quote_ident(current_user)
                USING DETAIL = 'The check of a NO ACTION or RESTRICT foreign key runs the code of its table (index expressions, column types, policies) as that table''s owner but within the caller''s session, whose settings (search_path) that code can change for the rest of it. Nothing was done to the table.',
                      HINT = format('If role %I is trusted with those rights, grant it role %I; else give table %s to a trusted role, or drop its foreign key.',
                                    pg_get_userbyid(runners[i]), current_user, rels[i]);
            RETURN false;
        -- no trigger fires, no AFTER code runs as the caller, only the code
        -- of its parts
        ELSIF NOT wal2queue.owner_code(rels[i], caller, vias[i], runners[i]) THEN
            RETURN false;
        END IF;
    END LOOP;
    RETURN true;
END
$$;

COMMENT ON FUNCTION wal2queue.owner_cascades(regclass, text) IS
'are the triggers of the tables a job table''s DELETE writes through foreign keys (ON DELETE CASCADE, SET NULL, SET DEFAULT, transitively) code of the role the action runs as? false, with a WARNING, when another role may add its code there';

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
    -- the HINT's pg_cron job: one name per function and table, since
    -- cron.schedule_in_database() replaces a job of the same name and
    -- user (test/t/587; docs/extension.md's example)
    fn text := CASE WHEN caller = 'wal2queue.prune' THEN caller ELSE 'wal2queue.maintain_partitions' END;
    job text := CASE WHEN caller = 'wal2queue.prune' THEN 'w2q-prune ' ELSE 'w2q-maintain ' END || rel::text;
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
                                o.owner, job, fn, rel::text, o.owner, rel);
        RETURN false;
    END IF;
    IF NOT (o.super OR coalesce(login = o.owner, false)) THEN
        RAISE WARNING '%: table % is skipped: it is owned by role %, and this call runs as role % in a session of role %',
            caller, rel, o.owner, current_user, coalesce(login, session_user)
            USING DETAIL = format('The owner''s code (triggers, rules, policies, constraints, index expressions, foreign key cascades) would run with the rights of role %s, and SET ROLE is no sandbox: the code can reset it. Nothing was done to the table.',
                                  coalesce(login, session_user)),
                  HINT = format('Run it in a session of role %s, e.g. with pg_cron: SELECT cron.schedule_in_database(%L, ''<schedule>'', $cmd$SELECT %s(%L)$cmd$, current_database(), %L).',
                                o.owner, job, fn, rel::text, o.owner);
        RETURN false;
    END IF;
    RETURN wal2queue.owner_triggers(rel, caller,
        CASE WHEN job_table IS NULL THEN format('table %s', rel)
             ELSE format('partition %s of table %s', rel, job_table) END);
END
$$;

COMMENT ON FUNCTION wal2queue.owner_session(regclass, text, regclass) IS
'may maintenance act on a job table (or a partition of it)? only when its owner is a superuser or this is a session of the owner (else a WARNING says how to run it)';
