/*-------------------------------------------------------------------------
 *
 * backfill_testhook.c
 *		W2Q_TEST_BACKFILL_PAUSE=<point>: the backfill stops at a named
 *		moment and waits there, so that a test can kill -9 the bridge at
 *		exactly that moment (test/t/390, 391, 397).  Unset, it costs a getenv
 *		at each point.  The points:
 *			marker		the creation marker recorded, the slot not created
 *			slot		the slot created, its first state not recorded
 *			first-state	the first state recorded, no page written
 *			page-half	half of the first page of two rows or more in the
 *						sink (Kafka without transactions: acknowledged),
 *						its state not recorded (Kafka only)
 *			first-page	the first sink call with rows recorded, with its
 *						state (test/t/397)
 *			last-page	the last page recorded, the done state not
 *			done-record	Kafka: the position record written at the
 *						consistent point, the done state not (test/t/575)
 *		W2Q_TEST_BACKFILL_PAUSE_SECONDS: how long (default 300).
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backfill.h"
#include "log.h"

#define PAUSE_MAX_US (300 * 1000000LL)

bool
backfill_test_at(const char *point)
{
	const char *want = getenv("W2Q_TEST_BACKFILL_PAUSE");

	return want != NULL && strcmp(want, point) == 0;
}

void
backfill_test_pause(const char *point)
{
	static bool paused;
	int64_t		until;
	const char *secs;

	if (paused || !backfill_test_at(point))
		return;
	paused = true;				/* once a process */
	log_msg(LOG_WARNING, "test hook W2Q_TEST_BACKFILL_PAUSE: paused at \"%s\"", point);
	secs = getenv("W2Q_TEST_BACKFILL_PAUSE_SECONDS");
	until = now_us() + (secs ? atoi(secs) * INT64_C(1000000) : PAUSE_MAX_US);
	while (now_us() < until)
		usleep(100 * 1000);
}
