/*-------------------------------------------------------------------------
 *
 * kafka_sources.c
 *		Whose a partition's last message is: another source's mark is
 *		refused, or with --accept-new-source ignored (kafka_marks.c reads
 *		the marks and asks here).
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "kafka_sink.h"
#include "log.h"

/* "<sysid>/<timeline>/..." : sysid and timeline, false if not that shape */
static bool
source_split(const char *s, char *sysid, size_t len, unsigned long *tl)
{
	const char *a = strchr(s, '/');
	char	   *end;

	if (a == NULL || (size_t) (a - s) >= len)
		return false;
	memcpy(sysid, s, a - s);
	sysid[a - s] = '\0';
	*tl = strtoul(a + 1, &end, 10);
	return end != a + 1 && *end == '/';
}

/*
 * Do two sources "<sysid>/<timeline>/<db>/<slot>" name the same database and
 * slot?  (A promoted standby keeps the system identifier and gets its slot
 * created again under the same name; another slot of the same system is
 * another bridge, not a server that lacks WAL.)
 */
static bool
same_db_slot(const char *a, const char *b)
{
	const char *x = strchr(a, '/');
	const char *y = strchr(b, '/');

	if (x == NULL || y == NULL)
		return false;
	x = strchr(x + 1, '/');
	y = strchr(y + 1, '/');
	return x != NULL && y != NULL && strcmp(x, y) == 0;
}

/*
 * Another source's mark: fatal, unless --accept-new-source; even then a
 * mark of the same system, database and slot past where this session begins (a promoted
 * standby that lacked WAL the old primary committed and the bridge
 * delivered) is fatal: those positions will be reached again by other jobs.
 */
int
kafka_source_refuse(KafkaSink *ks, const KafkaTopic *t, int32_t p, const char *source,
					uint64_t lsn, uint32_t seq, int64_t offset)
{
	char		sysid[32],
				other[32],
				what[96] = "";
	unsigned long tl,
				our_tl;
	char		a[LSN_STRLEN],
				w[LSN_STRLEN];

	if ((ks->flags & SINK_REPLAY_ACCEPT_NEW) &&
		source_split(source, other, sizeof(other), &tl) &&
		source_split(ks->source, sysid, sizeof(sysid), &our_tl) &&
		strcmp(sysid, other) == 0 && same_db_slot(source, ks->source) &&
		lsn > ks->from)
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_FATAL,
						  "kafka topic \"%s\" partition %d holds a job of %s at %s, past where this "
						  "slot begins on the same system (%s, source %s): this server lacks WAL that "
						  "the old one committed and Kafka holds (a promoted standby that lagged, a "
						  "restored copy), so jobs it commits now would be taken for delivered ones; "
						  "once you decided what to re-send, write to new topics (another --target-prefix)",
						  t->name, (int) p, source, lsn_format(lsn, a, sizeof(a)),
						  lsn_format(ks->from, w, sizeof(w)), ks->source);
	if (ks->flags & SINK_REPLAY_ACCEPT_NEW)
	{
		log_msg(LOG_WARNING, "kafka topic \"%s\" partition %d ends with a message of source %s, "
				"not %s: starting the partition afresh (--accept-new-source)",
				t->name, (int) p, source[0] ? source : "(none)", ks->source);
		return SINK_OK;
	}
	if (source_split(source, other, sizeof(other), &tl) &&
		source_split(ks->source, sysid, sizeof(sysid), &our_tl) &&
		strcmp(sysid, other) == 0 && tl != ks->src.timeline)
		snprintf(what, sizeof(what), " (the same system on timeline %lu, now timeline %u)",
				 tl, (unsigned) ks->src.timeline);
	return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_FATAL,
					  "kafka topic \"%s\" partition %d ends with a message of another source: "
					  "%s%s (lsn %s seq %u, offset %" PRId64 "), this bridge streams %s; "
					  "another bridge writes this topic or the server changed; "
					  SINK_FAILOVER_HINT,
					  t->name, (int) p,
					  source[0] ? source : "none recorded (written by an older wal2queue)",
					  what, lsn_format(lsn, a, sizeof(a)), seq, offset, ks->source);
}
