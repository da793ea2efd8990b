-- sql/src/24_text_shape.sql -- what a job table's row text depends on in the catalogs (claim-check floor)
-- (part of the wal2queue extension script: see 00_install.sql)

/*
 * text_shape_types(leaf) -- the types LEAF's row text depends on: those of
 * its columns (a dropped column is gone) and every type reachable from them
 * (array elements, domain bases, range and multirange subtypes, composite
 * attributes), each once.  The one recursion text_shape() describes and
 * lock_shape_changed() matches altered types against.
 */
CREATE FUNCTION wal2queue.text_shape_types(leaf oid)
RETURNS SETOF oid
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE types(typid) AS (
        SELECT a.atttypid FROM pg_attribute a
         WHERE a.attrelid = leaf AND a.attnum > 0 AND NOT a.attisdropped
        UNION
        SELECT n.typid
          FROM types JOIN pg_type ty ON ty.oid = types.typid
         CROSS JOIN LATERAL (
                SELECT ty.typelem
                UNION ALL SELECT ty.typbasetype
                UNION ALL SELECT r.rngsubtype FROM pg_range r
                           WHERE ty.oid IN (r.rngtypid, r.rngmultitypid)
                UNION ALL SELECT a.atttypid FROM pg_attribute a
                           WHERE a.attrelid = ty.typrelid AND a.attnum > 0 AND NOT a.attisdropped) n(typid)
         WHERE n.typid <> 0
    )
    SELECT typid FROM types
$$;

/*
 * text_shape(leaf) -- the catalog facts besides a row's own values that its
 * text form (ROW(t.*)::text, and each value's text in a job) depends on,
 * as text: LEAF's columns (number, type, name; a dropped column is gone
 * from the list) and, for every type reachable from them (array elements,
 * domain bases, range and multirange subtypes, composite attributes), a
 * composite type's attributes likewise and the row versions (xmin, ctid)
 * of an enum type's labels: ALTER TYPE ... RENAME VALUE writes a new row
 * version even when the label is renamed back.  guard_state() includes
 * it, so a change of any of these moves the guard floor when it is
 * recorded, and makes the floor unknown when it is not: prune() then never
 * judges a row by a text form other than the one the plugin made of it
 * (claim_check_floor(), sql/src/30_prune.sql).
 */
CREATE FUNCTION wal2queue.text_shape(leaf oid)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH types(typid) AS (SELECT * FROM wal2queue.text_shape_types(leaf))
    SELECT concat_ws(' ',
        'columns ' || (SELECT string_agg(a.attnum || ':' || a.atttypid || ':' || quote_ident(a.attname),
                                         ',' ORDER BY a.attnum)
                         FROM pg_attribute a
                        WHERE a.attrelid = leaf AND a.attnum > 0 AND NOT a.attisdropped),
        'composites ' || (SELECT string_agg(ty.oid || '(' || (SELECT string_agg(a.attnum || ':' || a.atttypid,
                                                                                 ',' ORDER BY a.attnum)
                                                                 FROM pg_attribute a
                                                                WHERE a.attrelid = ty.typrelid AND a.attnum > 0
                                                                  AND NOT a.attisdropped) || ')',
                                            ',' ORDER BY ty.oid)
                            FROM pg_type ty WHERE ty.oid IN (SELECT typid FROM types) AND ty.typrelid <> 0),
        'labels ' || (SELECT string_agg(e.oid || '@' || e.xmin::text || e.ctid::text, ',' ORDER BY e.oid)
                        FROM pg_enum e WHERE e.enumtypid IN (SELECT typid FROM types)))
$$;

/*
 * lock_shape_changed() -- after ALTER TYPE (an enum's labels, a composite's
 * attributes): the guarded job tables that use an altered type and whose
 * text_shape() differs from the one last recorded, each locked in SHARE
 * mode first (until the end of the transaction).  ALTER TYPE locks no table
 * that uses the type, so an INSERT running meanwhile could be decoded with
 * the old labels yet have an xid above the record that moves the floor; the
 * lock waits for such INSERTs (their xids then precede the record's) and
 * holds back new ones until the change committed (they are decoded with it).
 * The altered types are the command's objects (pg_event_trigger_ddl_commands():
 * a type, or a composite type's pg_class row); a table uses one when it is
 * among its text_shape_types().  A type no guarded table uses locks
 * nothing: whoever runs ALTER TYPE (any role, of its own type) takes no
 * lock on others' tables.
 * Internal: called by guard_on_alter() only, within its event (it reads the
 * command's objects).
 */
CREATE FUNCTION wal2queue.lock_shape_changed()
RETURNS oid[]
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    altered oid[];
    tables oid[];
    rel oid;
BEGIN
    SELECT array_agg(DISTINCT o.typid) INTO altered
      FROM pg_event_trigger_ddl_commands() c
     CROSS JOIN LATERAL (SELECT c.objid WHERE c.classid = 'pg_type'::regclass
                         UNION ALL
                         SELECT ty.oid FROM pg_type ty
                          WHERE c.classid = 'pg_class'::regclass AND ty.typrelid = c.objid) o(typid);
    IF altered IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT array_agg(g.relid ORDER BY g.relid) INTO tables
      FROM (SELECT DISTINCT t.tgrelid AS relid FROM pg_trigger t
             WHERE t.tgfoid = 'wal2queue.refuse_update()'::regprocedure) g
     WHERE EXISTS (SELECT FROM wal2queue.text_shape_types(g.relid) s(typid)
                    WHERE s.typid = ANY (altered))
       AND wal2queue.guard_state(g.relid) IS DISTINCT FROM
           (SELECT e.state FROM wal2queue.guard_events e WHERE e.relid = g.relid ORDER BY e.seq DESC LIMIT 1);
    FOREACH rel IN ARRAY coalesce(tables, '{}') LOOP
        EXECUTE format('LOCK TABLE ONLY %s IN SHARE MODE', rel::regclass);
    END LOOP;
    RETURN tables;
END
$$;

REVOKE EXECUTE ON FUNCTION wal2queue.lock_shape_changed() FROM PUBLIC;
