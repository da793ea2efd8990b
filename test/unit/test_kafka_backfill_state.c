/*-------------------------------------------------------------------------
 *
 * test_kafka_backfill_state.c
 *		The Kafka backfill state record's text (kafka_backfill_state.c):
 *		the tables by oid (table_oid, tables_done) read back as written; an
 *		older bridge's record without them reads as by name (by_oid false).
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
	char	   *text = kafka_backfill_state_format("1/1/postgres/s", 7, &st);
	char	   *old;
	char	   *cut;

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
