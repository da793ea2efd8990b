/*-------------------------------------------------------------------------
 *
 * test_rowjob.c
 *		Rows of a described relation into FrameJobs (bridge/rowjob.h), as
 *		a caller without any wire format (a SELECT) uses it: selection,
 *		target, key (single, composite, catalog, --key-column) and kinds.
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "rowjob.h"
#include "unit.h"

static FrameBytes
b(const char *s)
{
	FrameBytes	x = {s, (uint32_t) strlen(s)};

	return x;
}

static bool
eq(FrameBytes x, const char *s)
{
	return x.len == strlen(s) && memcmp(x.data, s, x.len) == 0;
}

static FrameValue
val(const char *s)
{
	FrameValue	v = {s == NULL, {s, s ? (uint32_t) strlen(s) : 0}};

	return v;
}

/* jobs (a bigint, b text, c jsonb, d bool, e numeric, f int4 typed by the caller) */
static RowjobColumn cols[] = {
	{{"a", 1}, 20, 0, true},
	{{"b", 1}, 25, 0, true},
	{{"c", 1}, 3802, 0, false},
	{{"d", 1}, 16, 0, false},
	{{"e", 1}, 1700, 0, false},
	{{"f", 1}, 99999, W2Q_KIND_NUMBER, false},
};

static void
test_kinds_and_composite_key(void)
{
	RowjobRel	rr;
	RowjobBuf	buf = {0};
	FrameJob	job;
	FrameValue	v[6] = {val("7"), val("x\"\n\x01"), val("{}"), val("t"), val("1.5"), val("3")};
	int			rc;

	rc = rowjob_rel_init(&rr, NULL, 42, b("public"), b("jobs"), 6, cols);
	unit_check(rc == FRAME_OK, "a relation is described");
	unit_check(eq(rr.rel.name, "public.jobs") && rr.rel.relid == 42, "its name is schema.table");
	unit_check(rr.rel.cols[0].kind == W2Q_KIND_NUMBER && rr.rel.cols[1].kind == W2Q_KIND_TEXT &&
			   rr.rel.cols[2].kind == W2Q_KIND_JSON && rr.rel.cols[3].kind == W2Q_KIND_BOOL &&
			   rr.rel.cols[4].kind == W2Q_KIND_NUMBER && rr.rel.cols[5].kind == W2Q_KIND_NUMBER,
			   "kinds by type OID, or as the caller gives them");
	unit_check(rr.include, "without --tables a table is selected");
	rc = rowjob_build(&rr, v, &buf, &job);
	unit_check(rc == FRAME_OK && eq(job.target, "public.jobs"), "the target is the relation");
	unit_check(job.has_key && eq(job.key, "[\"7\",\"x\\\"\\n\\u0001\"]"),
			   "a composite key is a JSON array of texts, escaped as escape_json");
	unit_check(job.rel == &rr.rel && job.values == v && !job.is_message && job.seq == 0,
			   "the job points at the relation and the values");
	v[1] = val(NULL);
	rc = rowjob_build(&rr, v, &buf, &job);
	unit_check(rc == FRAME_OK && eq(job.key, "[\"7\",null]"), "a NULL key column is null");
	rowjob_rel_free(&rr);
	rowjob_rel_free(&rr);
	rowjob_buf_free(&buf);
	unit_check(buf.data == NULL && rr.strings == NULL, "freeing twice is harmless");
}

static void
test_config(void)
{
	TablePatterns pats;
	RowjobKeys	keys = {0};
	const char *pk[] = {"e", "a"};
	RowjobConfig cfg = {&pats, "b", NULL, &keys};
	RowjobRel	rr;
	RowjobBuf	buf = {0};
	FrameJob	job;
	FrameValue	v[6] = {val("7"), val("emails"), val("{}"), val("t"), val("1.5"), val("3")};
	char		err[128];

	unit_check(tablematch_parse("public.jo*", &pats, err, sizeof(err)), "patterns parse");
	unit_check(rowjob_keys_add(&keys, 42, 2, pk), "a catalog key is added");
	rowjob_rel_init(&rr, &cfg, 42, b("public"), b("jobs"), 6, cols);
	unit_check(rr.include, "--tables public.jo* selects public.jobs");
	rowjob_build(&rr, v, &buf, &job);
	unit_check(eq(job.target, "emails"), "the route column's value is the target");
	unit_check(eq(job.key, "[\"1.5\",\"7\"]"), "the catalog key wins over flags, in index order");
	v[1] = val("");
	rowjob_build(&rr, v, &buf, &job);
	unit_check(eq(job.target, "public.jobs"), "an empty route value leaves the relation");
	rowjob_rel_free(&rr);

	cfg.key_column = "d";
	rowjob_rel_init(&rr, &cfg, 42, b("public"), b("jobs"), 6, cols);
	rowjob_build(&rr, v, &buf, &job);
	unit_check(job.has_key && eq(job.key, "t"), "--key-column wins over the catalog key");
	v[3] = val(NULL);
	rowjob_build(&rr, v, &buf, &job);
	unit_check(!job.has_key, "a NULL single-column key is no key");
	rowjob_rel_free(&rr);

	rowjob_rel_init(&rr, &cfg, 43, b("app"), b("jobs"), 6, cols);
	unit_check(!rr.include, "--tables public.jo* does not select app.jobs");
	rowjob_rel_free(&rr);
	rowjob_rel_init(&rr, NULL, 44, b("wal2queue"), b("slots"), 1, cols);
	unit_check(!rr.include, "without --tables the extension's schema is not selected");
	unit_check(rr.nkeys == 1 && rowjob_build(&rr, v, &buf, &job) == FRAME_OK &&
			   eq(job.key, "7"), "one flagged column is the key, as its text");
	rowjob_rel_free(&rr);
	rowjob_keys_clear(&keys);
	tablematch_free(&pats);
	rowjob_buf_free(&buf);
}

int
main(void)
{
	test_kinds_and_composite_key();
	test_config();
	return unit_done();
}
