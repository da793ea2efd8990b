-- sql/src/60_schema_rename.sql -- renamed schemas, for the pgoutput bridge
-- (part of the wal2queue extension script: see 00_install.sql)

/*
 * ALTER SCHEMA ... RENAME renames every table of the schema but invalidates
 * none of them, so a pgoutput walsender goes on describing them by the old
 * name (its Relation messages) until it restarts, and one started later
 * describes the same rows by the new name: with wal2queue-bridge
 * --plugin=pgoutput a row's target would depend on when the bridge
 * connected, and a replay into Kafka would write it again under the other
 * name (docs/managed.md, "Renamed schemas").
 *
 * schema_renamed() runs at the end of every ALTER SCHEMA and, for each
 * table of the schema that a publication publishes and each of its
 * partitions (pgoutput describes a partition's rows, published via the
 * root, from the partition's entry), sets the statistics target of its
 * first column to the value it has (ALTER TABLE ONLY ... SET STATISTICS):
 * nothing changes for the planner, but the table's
 * relation cache entry is invalidated in the renaming transaction, so
 * every walsender that decodes past its commit describes the table again,
 * by its new name, before its next row -- at the same WAL position,
 * whenever the bridge connected.  It takes each such table's SHARE UPDATE
 * EXCLUSIVE lock (the rename waits for a running VACUUM of it); a table
 * without columns is left alone.
 *
 * SECURITY DEFINER, so that the rename works for any role that may rename
 * the schema (the tables' owner may be another role): it alters nothing
 * but the statistics target of published tables of the schema just
 * altered, to the value it has.  An error aborts the rename, naming the
 * table.
 *
 * Creating an event trigger needs a superuser in PostgreSQL 15 (RDS's
 * rds_superuser and Cloud SQL's cloudsqlsuperuser may): installed by
 * another role, the function is created, the trigger is not, and a
 * WARNING gives the statement for an administrator.  The bridge checks for
 * the trigger at start and, without it, stops when it sees a published
 * table's schema renamed (bridge/pubwatch.c).
 */
CREATE FUNCTION wal2queue.schema_renamed() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT DISTINCT t.relid::regclass AS rel, a.attname, a.attstattarget
          FROM pg_event_trigger_ddl_commands() d
          JOIN pg_namespace n ON n.oid = d.objid
          JOIN pg_class c ON c.relnamespace = n.oid AND c.relkind IN ('r', 'p')
          CROSS JOIN LATERAL (SELECT c.oid AS relid
                              UNION SELECT pt.relid FROM pg_partition_tree(c.oid) pt) t
          JOIN LATERAL (SELECT at.attname, at.attstattarget FROM pg_attribute at
                         WHERE at.attrelid = t.relid AND at.attnum > 0 AND NOT at.attisdropped
                         ORDER BY at.attnum LIMIT 1) a ON true
         WHERE d.classid = 'pg_namespace'::regclass
           AND EXISTS (SELECT FROM pg_publication_tables pt
                        WHERE pt.schemaname = n.nspname AND pt.tablename = c.relname)
    LOOP
        BEGIN
            EXECUTE format('ALTER TABLE ONLY %s ALTER COLUMN %I SET STATISTICS %s',
                           r.rel, r.attname, r.attstattarget);
        EXCEPTION WHEN OTHERS THEN
            RAISE EXCEPTION 'wal2queue: could not mark table % for the pgoutput bridge after renaming its schema: %',
                r.rel, SQLERRM
                USING ERRCODE = SQLSTATE,
                      HINT = 'Rename the schema as the owner of its tables, or as a superuser (docs/managed.md, "Renamed schemas").';
        END;
    END LOOP;
END
$$;

DO $$
BEGIN
    CREATE EVENT TRIGGER wal2queue_schema_rename ON ddl_command_end
        WHEN TAG IN ('ALTER SCHEMA')
        EXECUTE FUNCTION wal2queue.schema_renamed();
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'wal2queue: the event trigger wal2queue_schema_rename was not created: role "%" may not create event triggers', current_user
        USING DETAIL = 'Without it, wal2queue-bridge --plugin=pgoutput stops when a schema of a published table is renamed.',
              HINT = 'As a superuser (RDS: a member of rds_superuser), run: CREATE EVENT TRIGGER wal2queue_schema_rename ON ddl_command_end WHEN TAG IN (''ALTER SCHEMA'') EXECUTE FUNCTION wal2queue.schema_renamed();';
END
$$;
