-- sql/src/10_send.sql -- send(): a job as a transactional logical message
-- (part of the wal2queue extension script: see 00_install.sql)

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
 * SECURITY DEFINER, executable by wal2queue_sender: it can only emit
 * messages with the 'wal2queue:' prefix, so a role may be granted send()
 * without pg_logical_emit_message().  It is on the hot path, so it has no
 * SET search_path clause (that costs about 2/3 more per call, where
 * SECURITY DEFINER alone costs nothing measurable): every
 * function and operator in it is qualified with pg_catalog instead, so a
 * caller's search_path cannot redirect anything it runs.
 */
CREATE FUNCTION wal2queue.send(target text, payload text, key text DEFAULT NULL)
RETURNS pg_lsn
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
AS $$
BEGIN
    IF target IS NULL OR target OPERATOR(pg_catalog.=) '' THEN
        RAISE EXCEPTION 'wal2queue.send: target must not be null or empty'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- the plugin reads the target up to the first '#', the key after it
    IF pg_catalog.strpos(target, '#') OPERATOR(pg_catalog.>) 0 THEN
        RAISE EXCEPTION 'wal2queue.send: target must not contain "#"'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('The target was %L.', target);
    END IF;
    IF payload IS NULL THEN
        RAISE EXCEPTION 'wal2queue.send: payload must not be null'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    RETURN pg_catalog.pg_logical_emit_message(
        true,
        pg_catalog.concat('wal2queue:', target, '#' OPERATOR(pg_catalog.||) key),
        payload);
END
$$;

COMMENT ON FUNCTION wal2queue.send(text, text, text) IS
'enqueue a job for TARGET (optionally keyed) as a transactional logical message; delivered at commit';

-- send() with a jsonb payload: the job carries the payload's text form
-- (no SET clause, so that the planner can inline it; the body is bound at
-- creation, so a caller's search_path cannot redirect it)
CREATE FUNCTION wal2queue.send(target text, payload jsonb, key text DEFAULT NULL)
RETURNS pg_lsn
LANGUAGE sql VOLATILE
BEGIN ATOMIC
    SELECT wal2queue.send(target, payload::text, key);
END;

COMMENT ON FUNCTION wal2queue.send(text, jsonb, text) IS
'enqueue a job with a jsonb payload (sent as its text form); delivered at commit';

REVOKE EXECUTE ON FUNCTION wal2queue.send(text, text, text), wal2queue.send(text, jsonb, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wal2queue.send(text, text, text), wal2queue.send(text, jsonb, text) TO wal2queue_sender;
