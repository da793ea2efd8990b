-- test/bench/bench.sql -- helpers run.sh installs in the benchmark database.
-- The job table itself comes from skiplocked/schema.sql.

CREATE EXTENSION wal2queue;
CREATE EXTENSION pg_walinspect;

-- a job's payload, as skiplocked/producer.pgb builds it (about 190 bytes)
CREATE FUNCTION bench_payload() RETURNS jsonb LANGUAGE sql VOLATILE AS $$
	SELECT ('{"type":"send_email","user_id":' ||
			(100000000 + floor(random() * 900000000))::bigint ||
			',"template":"welcome_v2","attempt":0,"meta":{"source":"signup","locale":"en-US","tags":["a","b"]},"body":"lorem ipsum dolor sit amet consectetur adipiscing"}')::jsonb
$$;

-- insert n jobs into jobs, per_txn to a transaction
CREATE PROCEDURE bench_insert(n integer, per_txn integer) LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 0 .. (n - 1) / per_txn LOOP
		INSERT INTO jobs (queue, payload)
		SELECT 'default', bench_payload()
		FROM generate_series(1, least(per_txn, n - i * per_txn));
		COMMIT;
	END LOOP;
END
$$;

-- send n jobs with wal2queue.send(), per_txn to a transaction
CREATE PROCEDURE bench_send(n integer, per_txn integer) LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 0 .. (n - 1) / per_txn LOOP
		PERFORM wal2queue.send('default', bench_payload())
		FROM generate_series(1, least(per_txn, n - i * per_txn));
		COMMIT;
	END LOOP;
END
$$;

-- wait until the slot has confirmed target: true, or false after timeout
-- seconds or once the slot has been inactive for the first 10 seconds
CREATE FUNCTION bench_wait_confirmed(slot name, target pg_lsn, timeout float8)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz := clock_timestamp();
	s record;
BEGIN
	LOOP
		SELECT confirmed_flush_lsn, active INTO s
		FROM pg_replication_slots WHERE slot_name = slot;
		IF s.confirmed_flush_lsn >= target THEN
			RETURN true;
		END IF;
		IF clock_timestamp() > t0 + make_interval(secs => timeout) OR
			(NOT s.active AND clock_timestamp() > t0 + interval '10 s') THEN
			RETURN false;
		END IF;
		PERFORM pg_sleep(0.01);
	END LOOP;
END
$$;
