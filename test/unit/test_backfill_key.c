/*-------------------------------------------------------------------------
 *
 * test_backfill_key.c
 *		The backfill's position key (a JSON array of the key columns'
 *		texts): formatting, parsing back, and refusing what is not one.
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "backfill.h"
#include "unit.h"

/* format vals, parse the text back: the same texts */
static void
roundtrip(const char *const *vals, int n, const char *want, const char *desc)
{
	char	   *json = backfill_key_format(vals, n);
	char	  **back = NULL;
	char		err[256];
	int			m;
	bool		same = true;

	unit_check_str(json, want, desc);
	m = backfill_key_parse(json, &back, err, sizeof(err));
	unit_check(m == n, "%s: parses back to %d values (got %d: %s)", desc, n, m, m < 0 ? err : "");
	for (int i = 0; m == n && i < n; i++)
		if ((vals[i] == NULL) != (back[i] == NULL) ||
			(vals[i] && strcmp(vals[i], back[i]) != 0))
			same = false;
	unit_check(same, "%s: the same texts", desc);
	backfill_key_free(back, m > 0 ? m : 0);
	free(json);
}

static void
refused(const char *json, const char *why)
{
	char	  **vals = NULL;
	char		err[256] = "";
	int			n = backfill_key_parse(json, &vals, err, sizeof(err));

	unit_check(n == -1 && vals == NULL && strstr(err, why) != NULL,
			   "%s is refused: %s (got %d: %s)", json, why, n, err);
}

int
main(void)
{
	const char *one[] = {"42"};
	const char *two[] = {"a,b", "7"};
	const char *esc[] = {"quote\" back\\slash", "tab\there\nnl", "\x01"};
	const char *nul[] = {NULL, "x"};
	const char *empty[] = {""};
	char	  **vals = NULL;
	char		err[256];

	roundtrip(one, 1, "[\"42\"]", "a single key");
	roundtrip(two, 2, "[\"a,b\",\"7\"]", "a composite key with a comma");
	roundtrip(esc, 3, "[\"quote\\\" back\\\\slash\",\"tab\\u0009here\\u000anl\",\"\\u0001\"]",
			  "escapes");
	roundtrip(nul, 2, "[null,\"x\"]", "a null");
	roundtrip(empty, 1, "[\"\"]", "an empty text");
	unit_check(backfill_key_parse("[\"a\\/b\",\"\\n\"]", &vals, err, sizeof(err)) == 2 &&
			   strcmp(vals[0], "a/b") == 0 && strcmp(vals[1], "\n") == 0,
			   "JSON's other escapes are read");
	backfill_key_free(vals, 2);
	refused("", "does not begin with [");
	refused("\"42\"", "does not begin with [");
	refused("[]", "it is empty");
	refused("[42]", "neither a string nor null");
	refused("[\"a\" \"b\"]", "not separated by commas");
	refused("[\"a\"", "not separated by commas");
	refused("[\"a]", "unterminated string");
	refused("[\"a\"] x", "something follows");
	refused("[\"\\q\"]", "a bad escape");
	refused("[\"\\u00e9\"]", "other than an ASCII character");
	refused("[\"\\u12\"]", "a bad \\u escape");
	return unit_done();
}
