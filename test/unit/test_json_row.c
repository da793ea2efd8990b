/*-------------------------------------------------------------------------
 *
 * test_json_row.c
 *		Rows as JSON with the plugin's typing (plugin/FORMAT.md) and
 *		PostgreSQL's escape_json() escaping.
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "json_row.h"
#include "unit.h"

#define MAXCOLS 8

typedef struct TestRow
{
	FrameRelation rel;
	FrameColumn cols[MAXCOLS];
	FrameValue	values[MAXCOLS];
} TestRow;

static FrameBytes
bytes(const char *s, size_t len)
{
	FrameBytes	b = {s, (uint32_t) len};

	return b;
}

/* a column; value NULL for SQL NULL, len -1 for strlen */
static void
add_col(TestRow *r, const char *name, char kind, const char *value, int len)
{
	uint32_t	i = r->rel.ncols++;

	r->cols[i].name = bytes(name, strlen(name));
	r->cols[i].kind = kind;
	r->values[i].isnull = value == NULL;
	r->values[i].data = value ? bytes(value, len < 0 ? strlen(value) : (size_t) len)
		: bytes(NULL, 0);
}

static void
row_init(TestRow *r)
{
	memset(r, 0, sizeof(*r));
	r->rel.relid = 16384;
	r->rel.name = bytes("public.jobs", 11);
	r->rel.cols = r->cols;
}

static void
check_row(TestRow *r, const char *want, const char *desc)
{
	JsonBuf		b;

	json_buf_init(&b);
	if (json_row(&b, &r->rel, r->values) != 0)
		unit_check(false, "%s (out of memory)", desc);
	else
		unit_check_str(b.data, want, desc);
	json_buf_free(&b);
}

static void
test_format_example(void)
{
	TestRow		r;

	row_init(&r);
	add_col(&r, "id", W2Q_KIND_NUMBER, "42", -1);
	add_col(&r, "queue", W2Q_KIND_TEXT, "emails", -1);
	add_col(&r, "payload", W2Q_KIND_JSON, "{\"to\": \"a@b.c\"}", -1);
	check_row(&r, "{\"id\":42,\"queue\":\"emails\",\"payload\":{\"to\": \"a@b.c\"}}",
			  "FORMAT.md example row: number, text, embedded json");
}

static void
test_numbers(void)
{
	TestRow		r;

	row_init(&r);
	add_col(&r, "a", W2Q_KIND_NUMBER, "-1.5e+100", -1);
	add_col(&r, "b", W2Q_KIND_NUMBER, "NaN", -1);
	add_col(&r, "c", W2Q_KIND_NUMBER, "Infinity", -1);
	add_col(&r, "d", W2Q_KIND_NUMBER, "-Infinity", -1);
	add_col(&r, "e", W2Q_KIND_NUMBER, "12345678901234567890.000001", -1);
	add_col(&r, "f", W2Q_KIND_NUMBER, "NaNx", 3);
	check_row(&r, "{\"a\":-1.5e+100,\"b\":\"NaN\",\"c\":\"Infinity\",\"d\":\"-Infinity\","
			  "\"e\":12345678901234567890.000001,\"f\":\"NaN\"}",
			  "numbers as is; NaN, Infinity, -Infinity as strings");
}

static void
test_bool_null(void)
{
	TestRow		r;

	row_init(&r);
	add_col(&r, "t", W2Q_KIND_BOOL, "t", -1);
	add_col(&r, "f", W2Q_KIND_BOOL, "f", -1);
	add_col(&r, "n1", W2Q_KIND_NUMBER, NULL, 0);
	add_col(&r, "n2", W2Q_KIND_TEXT, NULL, 0);
	add_col(&r, "n3", W2Q_KIND_JSON, NULL, 0);
	add_col(&r, "n4", W2Q_KIND_BOOL, NULL, 0);
	add_col(&r, "e", W2Q_KIND_TEXT, "", -1);
	check_row(&r, "{\"t\":true,\"f\":false,\"n1\":null,\"n2\":null,\"n3\":null,\"n4\":null,\"e\":\"\"}",
			  "bool as true/false, NULL as null, empty text as \"\"");
}

static void
test_escaping(void)
{
	TestRow		r;
	static const char ctl[] = "a\"b\\c\b\f\n\r\td\x01\x1f\x7f" "\0" "z";

	row_init(&r);
	add_col(&r, "s", W2Q_KIND_TEXT, ctl, sizeof(ctl) - 1);
	add_col(&r, "u", W2Q_KIND_TEXT, "gr\xc3\xbc\xc3\x9f / \xe2\x82\xac", -1);
	add_col(&r, "bytea", W2Q_KIND_TEXT, "\\x00ff", -1);
	check_row(&r, "{\"s\":\"a\\\"b\\\\c\\b\\f\\n\\r\\td\\u0001\\u001f\x7f\\u0000z\","
			  "\"u\":\"gr\xc3\xbc\xc3\x9f / \xe2\x82\xac\",\"bytea\":\"\\\\x00ff\"}",
			  "text escaped like escape_json: \\b \\f \\n \\r \\t \\\" \\\\, \\u00xx for other controls, UTF-8 as is");
}

static void
test_names(void)
{
	TestRow		r;

	row_init(&r);
	add_col(&r, "we\"ird\\na\nme", W2Q_KIND_NUMBER, "1", -1);
	add_col(&r, "Mixed Case", W2Q_KIND_TEXT, "x", -1);
	check_row(&r, "{\"we\\\"ird\\\\na\\nme\":1,\"Mixed Case\":\"x\"}",
			  "column names escaped");
	row_init(&r);
	check_row(&r, "{}", "no columns: {}");
}

static void
test_buffer(void)
{
	JsonBuf		b;
	TestRow		r;
	char		big[5000];
	bool		ok;

	memset(big, 'x', sizeof(big));
	row_init(&r);
	add_col(&r, "big", W2Q_KIND_TEXT, big, sizeof(big));
	json_buf_init(&b);
	ok = json_row(&b, &r.rel, r.values) == 0 && b.len == sizeof(big) + 10 &&
		b.data[b.len] == '\0' && memcmp(b.data, "{\"big\":\"xxx", 11) == 0;
	unit_check(ok, "a 5000-byte value grows the buffer (len %zu)", b.len);
	row_init(&r);
	add_col(&r, "id", W2Q_KIND_NUMBER, "7", -1);
	ok = json_row(&b, &r.rel, r.values) == 0 && strcmp(b.data, "{\"id\":7}") == 0;
	unit_check(ok, "json_row replaces what the buffer held");
	json_buf_free(&b);
	unit_check(b.data == NULL && b.len == 0, "json_buf_free leaves an empty buffer");
}

int
main(void)
{
	test_format_example();
	test_numbers();
	test_bool_null();
	test_escaping();
	test_names();
	test_buffer();
	return unit_done();
}
