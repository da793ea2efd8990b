/*-------------------------------------------------------------------------
 *
 * pgoutput_sample.h
 *		Real pgoutput messages (PostgreSQL 15.20, proto_version 1, messages
 *		true), captured with pg_logical_slot_peek_binary_changes from:
 *
 *	CREATE TABLE jobs (id int PRIMARY KEY, queue text, n numeric, f float8,
 *		b bool, j jsonb, t timestamptz, arr int[], nul text, i8 bigint);
 *	CREATE TABLE comp (a int, b text, payload text, PRIMARY KEY (a, b));
 *	CREATE DOMAIN posint AS int CHECK (VALUE > 0);
 *	CREATE TABLE dom (id posint PRIMARY KEY, v text);
 *	CREATE PUBLICATION pub FOR TABLE jobs, comp, dom
 *		WITH (publish = 'insert', publish_via_partition_root = true);
 *	BEGIN;
 *	INSERT INTO jobs VALUES (1, 'emails', 1.50, 'NaN', true, '{"a": [1, "x"]}',
 *		'2024-01-02 03:04:05.123456+00', '{1,2}', NULL, 9007199254740993);
 *	SELECT pg_logical_emit_message(true, 'wal2queue:tgt#k1', 'payload one');
 *	SELECT pg_logical_emit_message(true, 'other', 'ignored');
 *	INSERT INTO comp VALUES (7, 'x,y', 'p');
 *	COMMIT;
 *	SELECT pg_logical_emit_message(false, 'wal2queue', 'nontx');
 *	INSERT INTO dom VALUES (5, 'five');
 *	UPDATE jobs SET queue = 'sms' WHERE id = 1;		-- not published
 *	ALTER TABLE jobs ADD COLUMN extra text DEFAULT 'e';
 *	INSERT INTO jobs (id, queue) VALUES (2, NULL);
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGOUTPUT_SAMPLE_H
#define PGOUTPUT_SAMPLE_H

static const char *const pgo_sample[] = {
	/* 0: Begin xid 729, final lsn 0/154C0D8 */
	"42000000000154c0d80003047224efa5ff000002d9",
	/* 1: Relation public.jobs, 10 columns */
	"52000040007075626c6963006a6f62730064000a0169640000000017ffffffff0071756575650000000019ffffffff006e00000006a4ffffffff006600000002bdffffffff00620000000010ffffffff006a0000000edaffffffff007400000004a0ffffffff0061727200000003efffffffff006e756c0000000019ffffffff0069380000000014ffffffff",
	/* 2: Insert jobs (1, ...) */
	"49000040004e000a7400000001317400000006656d61696c737400000004312e353074000000034e614e740000000174740000000f7b2261223a205b312c202278225d7d740000001d323032342d30312d30322030333a30343a30352e3132333435362b303074000000057b312c327d6e740000001039303037313939323534373430393933",
	/* 3: Message wal2queue:tgt#k1 */
	"4d01000000000154bf9877616c3271756575653a746774236b31000000000b7061796c6f6164206f6e65",
	/* 4: Message other (ignored) */
	"4d01000000000154bfd86f74686572000000000769676e6f726564",
	/* 5: Relation public.comp */
	"52000040077075626c696300636f6d700064000301610000000017ffffffff01620000000019ffffffff007061796c6f61640000000019ffffffff",
	/* 6: Insert comp (7, 'x,y', 'p') */
	"49000040074e00037400000001377400000003782c79740000000170",
	/* 7: Commit, end lsn 0/154C108 */
	"4300000000000154c0d8000000000154c1080003047224efa5ff",
	/* 8: non-transactional message (ignored) */
	"4d00000000000154c15077616c32717565756500000000056e6f6e7478",
	/* 9: Begin xid 730 */
	"42000000000154c2300003047224efa8f4000002da",
	/* 10: Type posint: base pg_catalog.int4 */
	"590000400f00696e743400",
	/* 11: Relation public.dom */
	"52000040117075626c696300646f6d00640002016964000000400fffffffff00760000000019ffffffff",
	/* 12: Insert dom (5, 'five') */
	"49000040114e0002740000000135740000000466697665",
	/* 13: Commit */
	"4300000000000154c230000000000154c2600003047224efa8f4",
	/* 14: Begin xid 733 */
	"42000000000154ce200003047224f01123000002dd",
	/* 15: Relation public.jobs again, 11 columns (ALTER TABLE ADD COLUMN) */
	"52000040007075626c6963006a6f62730064000b0169640000000017ffffffff0071756575650000000019ffffffff006e00000006a4ffffffff006600000002bdffffffff00620000000010ffffffff006a0000000edaffffffff007400000004a0ffffffff0061727200000003efffffffff006e756c0000000019ffffffff0069380000000014ffffffff0065787472610000000019ffffffff",
	/* 16: Insert jobs (2, NULL, ..., 'e') */
	"49000040004e000b7400000001326e6e6e6e6e6e6e6e6e740000000165",
	/* 17: Commit */
	"4300000000000154ce20000000000154ce500003047224f01123",
	NULL
};

/*
 * Later, from the same server:
 *
 *	CREATE TABLE dpk (a int, b int, PRIMARY KEY (b, a) DEFERRABLE);
 *	CREATE TABLE rpk (x int, y text, z int, PRIMARY KEY (z, x));
 *	ALTER PUBLICATION pub ADD TABLE dpk, rpk;
 *	INSERT INTO dpk VALUES (1, 2);		-- one transaction each,
 *	INSERT INTO rpk VALUES (1, 'y', 3);	-- decoded as one
 *	INSERT INTO comp VALUES (8, E'q"\\\\\t', NULL);
 *
 * pgoutput flags no key column of dpk (a deferrable primary key is no
 * replica identity) and rpk's in column order (x, z); the primary keys in
 * index order are dpk (b, a) and rpk (z, x), relids 16418 and 16424.
 */
static const char *const pgo_sample_keys[] = {
	"4200000000015c329800030472563831de000002e9",
	"52000040227075626c69630064706b0064000200610000000017ffffffff00620000000017ffffffff",
	"49000040224e0002740000000131740000000132",
	"52000040287075626c69630072706b0064000301780000000017ffffffff00790000000019ffffffff017a0000000017ffffffff",
	"49000040284e0003740000000131740000000179740000000133",
	"430000000000015c329800000000015c3b4000030472563831de",
	"4200000000015c3cc000030472589d8b24000002ea",
	"52000040077075626c696300636f6d700064000301610000000017ffffffff01620000000019ffffffff007061796c6f61640000000019ffffffff",
	"49000040074e0003740000000138740000000571225c5c096e",
	"430000000000015c3cc000000000015c3cf000030472589d8b24",
	NULL
};

/* hex to bytes into buf; returns the length */
static inline size_t
pgo_unhex(const char *hex, unsigned char *buf, size_t cap)
{
	size_t		n = 0;

	while (hex[0] && hex[1] && n < cap)
	{
		unsigned int b;

		sscanf(hex, "%2x", &b);
		buf[n++] = (unsigned char) b;
		hex += 2;
	}
	return n;
}

#endif							/* PGOUTPUT_SAMPLE_H */
