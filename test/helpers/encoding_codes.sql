-- test/helpers/encoding_codes.sql -- PostgreSQL's own conversion to UTF-8
-- of every code of the server encodings the bridge converts itself: the
-- single-byte ones (0x80..0xFF), EUC_JP and EUC_JIS_2004 (two bytes
-- A1..FE A1..FE, 0x8E A1..FE, 0x8F A1..FE A1..FE), EUC_CN and EUC_KR (two
-- bytes) and EUC_TW (two bytes, and the four bytes 0x8E A1..B0 A1..FE
-- A1..FE of CNS 11643 planes 1 to 16, which PostgreSQL stores and converts
-- for planes 1 and 2 only: attack 546).  One line per code:
--	ENCODING HEX-OF-CODE HEX-OF-UTF8   (or "-": PostgreSQL refuses the code)
-- Read by test/helpers/gen_encoding_tables.sh (bridge/encoding_tables.c)
-- and by test/t/025_encoding_every_code.pl (the bridge agrees).  Run it in a
-- UTF8 database.
CREATE FUNCTION pg_temp.w2q_conv(b bytea, e name) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	RETURN encode(convert_to(convert_from(b, e), 'UTF8'), 'hex');
EXCEPTION WHEN OTHERS THEN
	RETURN '-';
END $$;

WITH sb(e, o) AS (
	VALUES ('LATIN1', 1), ('LATIN2', 2), ('LATIN3', 3), ('LATIN4', 4), ('LATIN5', 5),
		('LATIN6', 6), ('LATIN7', 7), ('LATIN8', 8), ('LATIN9', 9), ('LATIN10', 10),
		('ISO_8859_5', 11), ('ISO_8859_6', 12), ('ISO_8859_7', 13), ('ISO_8859_8', 14),
		('WIN866', 15), ('WIN874', 16), ('WIN1250', 17), ('WIN1251', 18), ('WIN1252', 19),
		('WIN1253', 20), ('WIN1254', 21), ('WIN1255', 22), ('WIN1256', 23), ('WIN1257', 24),
		('WIN1258', 25), ('KOI8R', 26), ('KOI8U', 27)
), mb(e, o) AS (
	VALUES ('EUC_JP', 28), ('EUC_JIS_2004', 29), ('EUC_CN', 30), ('EUC_KR', 31), ('EUC_TW', 32)
), hi AS (
	SELECT v FROM generate_series(161, 254) v
), codes(e, o, code) AS (
	SELECT e, o, set_byte('\x00'::bytea, 0, v) FROM sb, generate_series(128, 255) v
	UNION ALL
	SELECT e, o, set_byte(set_byte('\x0000'::bytea, 0, a.v), 1, b.v) FROM mb, hi a, hi b
	UNION ALL
	SELECT e, o, set_byte('\x8e00'::bytea, 1, b.v) FROM mb, hi b WHERE e LIKE 'EUC_J%'
	UNION ALL
	SELECT e, o, set_byte(set_byte('\x8f0000'::bytea, 1, a.v), 2, b.v)
	FROM mb, hi a, hi b WHERE e LIKE 'EUC_J%'
	UNION ALL
	SELECT e, o, set_byte(set_byte(set_byte('\x8e000000'::bytea, 1, p), 2, a.v), 3, b.v)
	FROM mb, generate_series(161, 176) p, hi a, hi b WHERE e = 'EUC_TW'
)
SELECT e || ' ' || encode(code, 'hex') || ' ' || pg_temp.w2q_conv(code, e)
FROM codes ORDER BY o, length(code), code;
