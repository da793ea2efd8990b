/*-------------------------------------------------------------------------
 *
 * test_metrics_health.c
 *		Unit tests of /healthz: 200 while streaming or standing by, 503
 *		otherwise (the HTTP side is tested in 012_cli.pl).
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
	char		buf[128];

	unit_check(metrics_health(&m, buf, sizeof(buf)) == 503 &&
			   strcmp(buf, "not streaming\n") == 0,
			   "neither streaming nor standing by: 503");
	m.streaming = true;
	m.sink_up = true;
	unit_check(metrics_health(&m, buf, sizeof(buf)) == 200 &&
			   strcmp(buf, "ok: streaming; redis up\n") == 0,
			   "streaming: 200");
	m.sink_up = false;
	unit_check(metrics_health(&m, buf, sizeof(buf)) == 200 &&
			   strstr(buf, "redis down") != NULL,
			   "streaming with the sink reconnecting: 200, and it says so");
	m.streaming = false;
	m.standing_by = true;
	unit_check(metrics_health(&m, buf, sizeof(buf)) == 200 &&
			   strcmp(buf, "ok: standing by\n") == 0,
			   "standing by: 200 (a standby is healthy)");
	m.standing_by = false;
	m.backfill_running = true;
	m.backfill_rows_done = 5000;
	unit_check(metrics_health(&m, buf, sizeof(buf)) == 200 &&
			   strcmp(buf, "ok: backfilling (5000 rows delivered)\n") == 0,
			   "backfilling: 200 (a long backfill is healthy)");
	memset(&m, 0, sizeof(m));
	unit_check(metrics_health(&m, buf, sizeof(buf)) == 503,
			   "nothing published yet: 503");
	return unit_done();
}
