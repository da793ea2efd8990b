/*-------------------------------------------------------------------------
 *
 * test_backfill_condition.c
 *		The --backfill condition's lexical check (backfill_condition.c):
 *		one expression whose parentheses balance outside literals, quoted
 *		identifiers and dollar quotes, without a comment or a semicolon.
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "backfill.h"
#include "unit.h"

static void
accepted(const char *cond)
{
	char		err[512] = "";

	unit_check(backfill_condition_check(cond, err, sizeof(err)) == 0, "accepted: %s %s", cond, err);
}

/* refused, with a message that names the condition and contains why */
static void
refused(const char *cond, const char *why)
{
	char		err[512] = "";
	int			rc = backfill_condition_check(cond, err, sizeof(err));

	unit_check(rc == -1 && strstr(err, cond) != NULL && strstr(err, why) != NULL,
			   "refused: %s (%s): %s", cond, why, err);
}

int
main(void)
{
	accepted("id > 0");
	accepted("id > 0 OR id = 1");
	accepted("(id > 0) OR (id = 1)");
	accepted("status = 'pending' AND (queue IN ('a', 'b'))");
	accepted("note = ')'");
	accepted("note = '('");
	accepted("note = 'it''s )'");
	accepted("note = E'\\')'");
	accepted("note = e'\\\\' AND (id > 1)");
	accepted("\"odd)name\" > 0");
	accepted("\"a\"\"(b\" IS NULL");
	accepted("note = $$)$$");
	accepted("note = $x$ ) -- ; $y$ $x$");
	accepted("a$b$ > 0 AND (id > 1)");
	accepted("note ~ '--' AND note <> '/*' AND note <> ';'");
	accepted("id - -1 > 0");
	accepted("f(g(id)) > 1");

	refused("id > 0) OR (id = 1", "closes a parenthesis it did not open");
	refused("id > 0)", "closes a parenthesis it did not open");
	refused("(id > 0", "not closed");
	refused("((id > 0)", "not closed");
	refused("id > 0 -- all", "comment");
	refused("id > 0 /* all */", "comment");
	refused("id > 0; DELETE FROM jobs", "semicolon");
	refused("note = 'open", "string literal that does not end");
	refused("note = E'\\'", "string literal that does not end");
	refused("\"open > 0", "quoted identifier that does not end");
	refused("note = $t$ open", "dollar-quoted string $t$ that does not end");
	refused("note = 'x') OR (true", "closes a parenthesis");

	/*
	 * A backslash in '...' is an ordinary character: every backfill
	 * connection pins standard_conforming_strings = on (BF_SAFE_SETTINGS),
	 * so the server reads '...' as this check does whatever the database's
	 * setting (test/t/430).  430's condition is balanced as read so (the
	 * server then refuses its syntax); one that relies on a backslash
	 * escaping the quote closes a parenthesis it did not open.
	 */
	accepted("id::text <> '\\'a' ) OR (true) OR (id::text <> 'x\\''");
	accepted("note = '\\'");
	accepted("note = 'a\\' AND (id > 1)");
	refused("note = 'a\\' ) OR (true", "closes a parenthesis it did not open");
	refused("note = '\\' ) OR (id > 0", "closes a parenthesis it did not open");
	accepted("note = E'\\' ) OR (true'");
	accepted("note = U&'\\0041' AND (id > 1)");
	return unit_done();
}
