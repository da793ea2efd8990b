/*-------------------------------------------------------------------------
 *
 * test_metrics_format.c
 *		Unit tests of /metrics' text: every family present, the slot's
 *		wal_status only once the slot watch read it, and a buffer too small
 *		cut cleanly (the HTTP side is tested in 012_cli.pl).
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <string.h>

#include "metrics.h"
#include "unit.h"

int
main(void)
{
	MetricsSnapshot m = {.sink = "redis", .slot = "jobs"};
	char		buf[8192];
	char		small[100];
	size_t		n;

	m.jobs = 42;
	m.confirmed_lsn = 100;
	m.received_lsn = 160;
	n = metrics_format(&m, buf, sizeof(buf));
	unit_check(n == strlen(buf) && n > 0, "the length returned is the text's");
	unit_check(strstr(buf, "wal2queue_jobs_delivered_total{sink=\"redis\",slot=\"jobs\"} 42\n") != NULL,
			   "delivered jobs, labelled by sink and slot");
	unit_check(strstr(buf, "wal2queue_lag_bytes{slot=\"jobs\"} 60\n") != NULL,
			   "lag: received past confirmed");
	unit_check(strstr(buf, "wal2queue_slot_wal_status") == NULL,
			   "no wal_status before the slot watch read it");
	unit_check(strstr(buf, "wal2queue_backfill_rows_done{slot=\"jobs\"} 0\n") != NULL,
			   "backfill progress is always there");

	m.confirmed_lsn = 200;
	snprintf(m.wal_status, sizeof(m.wal_status), "%s", "unreserved");
	m.safe_wal_size = -1;
	metrics_format(&m, buf, sizeof(buf));
	unit_check(strstr(buf, "wal2queue_lag_bytes{slot=\"jobs\"} 0\n") != NULL,
			   "no negative lag when confirmed is past received");
	unit_check(strstr(buf, "wal2queue_slot_wal_status{slot=\"jobs\",status=\"unreserved\"} 1\n") != NULL &&
			   strstr(buf, "wal2queue_slot_wal_status{slot=\"jobs\",status=\"reserved\"} 0\n") != NULL,
			   "wal_status: 1 for the current state, 0 for the others");
	unit_check(strstr(buf, "safe_wal_size") == NULL,
			   "no safe_wal_size when the server gives none");
	m.safe_wal_size = 12345;
	metrics_format(&m, buf, sizeof(buf));
	unit_check(strstr(buf, "wal2queue_slot_safe_wal_size_bytes{slot=\"jobs\"} 12345\n") != NULL,
			   "safe_wal_size when the server gives it");

	memset(small, 'x', sizeof(small));
	n = metrics_format(&m, small, sizeof(small));
	unit_check(n == sizeof(small) - 1 && small[n] == '\0' && strlen(small) == n,
			   "a buffer too small: filled, terminated, its length returned");
	unit_check(metrics_format(&m, small, 0) == 0, "an empty buffer: nothing written");
	return unit_done();
}
