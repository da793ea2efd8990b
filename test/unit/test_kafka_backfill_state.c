/*-------------------------------------------------------------------------
 *
 * test_kafka_backfill_state.c
 *		The Kafka backfill state record's text (kafka_backfill_state.c):
 *		the tables by oid (table_oid, tables_done) read back as written; an
 *		older bridge's record without them reads as by name (by_oid false);
 *		next_topics (where the page after the state goes) read back as
 *		written, none in an older record; the topic set of a page.
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "backfill.h"
#include "kafka_sink.h"
#include "unit.h"

int
main(void)
{
	BackfillState st = {.present = true, .lsn = 0x16B374D848ULL, .seq = 4, .rows = 9,
		.snapshot = "10:12:", .condition = "id > 0", .table = "public.\"A b\"", .key = "[\"3\"]",
		.storage = "16384:16384:16384", .label = "", .keydef = "w2q2 1:23:0; id integer",
	.by_oid = true, .table_oid = 16390, .tables_done = "16384 16402"};
	BackfillState back = {0};
	char		source[KAFKA_SOURCE_LEN];
	uint64_t	page = 0;
	KafkaBfTopics t = {0};
	KafkaBfTopics u = {0};
	FrameJob	jobs[3] = {
		{.target = {"public.jobs", 11}},
		{.target = {"public.other", 12}},
		{.target = {"public.jobs", 11}},
	};
	char	   *json;
	char	   *text;
	char	   *old;
	char	   *cut;

	/* the topics of a page: prefix and target, each once */
	unit_check(kafka_bf_topics_of_page("p.", jobs, 3, &t) && t.n == 2 &&
			   strcmp(t.name[0], "p.public.jobs") == 0 && strcmp(t.name[1], "p.public.other") == 0,
			   "a page's topics: the prefix and each target once (%zu)", t.n);
	json = kafka_bf_topics_format(&t);
	text = kafka_backfill_state_format("1/1/postgres/s", 7, &st, json);
	unit_check(text != NULL && strstr(text, "\nnext_topics=[\"p.public.jobs\",\"p.public.other\"]\n") != NULL,
			   "the record names the next page's topics: %s", text ? text : "(null)");
	free(json);
	json = kafka_backfill_state_next_topics(text, strlen(text));
	unit_check(json && kafka_bf_topics_parse(json, &u) && u.n == 2 && kafka_bf_topics_within(&t, &u) &&
			   kafka_bf_topics_within(&u, &t), "next_topics read back as written");
	free(json);
	kafka_bf_topics_free(&u);
	unit_check(kafka_bf_topics_parse("[]", &u) && u.n == 0 && !kafka_bf_topics_within(&t, &u) &&
			   kafka_bf_topics_within(&u, &t), "no topics: a page with rows is not within them");
	unit_check(!kafka_bf_topics_parse("[\"a\",", &u) && !kafka_bf_topics_parse("[\"\"]", &u) &&
			   u.n == 0, "a bad next_topics is refused");
	kafka_bf_topics_free(&t);
	unit_check(text != NULL && strstr(text, "\ntable_oid=16390\ntables_done=16384 16402\n") != NULL,
			   "the record holds table_oid and tables_done: %s", text ? text : "(null)");
	unit_check(kafka_backfill_state_parse(text, strlen(text), &back, &page, source) &&
			   back.by_oid && back.table_oid == 16390 && strcmp(back.tables_done, "16384 16402") == 0 &&
			   strcmp(back.table, st.table) == 0 && page == 7 && back.rows == 9,
			   "read back as written");
	backfill_state_free(&back);

	/* an older bridge's record: no table_oid line */
	old = strdup(text);
	cut = strstr(old, "table_oid=");
	*cut = '\0';
	unit_check(kafka_backfill_state_next_topics(old, strlen(old)) == NULL,
			   "an older record names no next topics");
	memset(&back, 0, sizeof(back));
	unit_check(kafka_backfill_state_parse(old, strlen(old), &back, &page, source) &&
			   !back.by_oid && back.table_oid == 0 && back.tables_done && back.tables_done[0] == '\0' &&
			   strcmp(back.table, st.table) == 0,
			   "an older record: the table by name only (by_oid false)");
	backfill_state_free(&back);
	free(old);
	free(text);
	return unit_done();
}
