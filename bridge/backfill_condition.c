/*-------------------------------------------------------------------------
 *
 * backfill_condition.c
 *		A --backfill condition is one SQL expression: a lexical check of it
 *		before anything is created (backfill_check.c).
 *
 * The pages paste the condition between "AND (" and ")" (backfill_sql.c
 * bf_page).  A condition that closes that parenthesis ("id > 0) OR (id =
 * 1") is valid SQL there, but its first disjunct ignores the keyset
 * position: every page would be the first page again, without end.  A
 * comment would swallow what follows it, a semicolon end the statement.
 * So, outside string literals ('...', E'...' with its backslash escapes),
 * quoted identifiers ("...") and dollar quotes ($tag$...$tag$), the
 * parentheses must balance and never close one the condition did not
 * open, and there must be no comment (-- or slash-star) and no semicolon.
 * The server still parses the condition (backfill_check.c reads nothing
 * with it from every table): this only keeps it inside its parentheses.
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "backfill.h"
#include "errbuf.h"

/* a character of an identifier or keyword (PostgreSQL's ident_cont) */
static bool
ident_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		c == '_' || c == '$' || c >= 0x80;
}

/* the length of a dollar quote's delimiter at p ("$tag$", "$$"), or 0 */
static size_t
dollar_tag(const char *p)
{
	size_t		n = 1;
	unsigned char c = (unsigned char) p[1];

	if (c >= '0' && c <= '9')
		return 0;				/* $1: a parameter, not a quote */
	while (p[n] != '\0' && p[n] != '$' && ident_char((unsigned char) p[n]))
		n++;
	return p[n] == '$' ? n + 1 : 0;
}

/*
 * The end of the quoted text that starts at p (after its opening quote
 * q), past its closing quote; NULL if it does not end.  backslash: E'...'.
 */
static const char *
quoted_end(const char *p, char q, bool backslash)
{
	for (; *p; p++)
	{
		if (backslash && *p == '\\' && p[1] != '\0')
			p++;
		else if (*p == q && p[1] == q)
			p++;				/* '' or "": the quote itself */
		else if (*p == q)
			return p + 1;
	}
	return NULL;
}

int
backfill_condition_check(const char *cond, char *err, size_t errlen)
{
	int			depth = 0;
	const char *p = cond;

	while (*p)
	{
		unsigned char c = (unsigned char) *p;
		bool		word_before = p > cond && ident_char((unsigned char) p[-1]);
		const char *end;
		size_t		tag;

		if (c == '\'' || c == '"')
		{
			/* E'...' (e or E before it, not within a word) takes escapes */
			bool		esc = c == '\'' && p > cond && (p[-1] == 'e' || p[-1] == 'E') &&
				!(p - 1 > cond && ident_char((unsigned char) p[-2]));

			if ((end = quoted_end(p + 1, (char) c, esc)) == NULL)
				return errbuf_set(err, errlen, -1, "invalid --backfill condition \"%s\": a %s that "
								  "does not end", cond, c == '"' ? "quoted identifier" : "string literal");
			p = end;
		}
		else if (c == '$' && !word_before && (tag = dollar_tag(p)) > 0)
		{
			if ((end = memmem(p + tag, strlen(p + tag), p, tag)) == NULL)
				return errbuf_set(err, errlen, -1, "invalid --backfill condition \"%s\": a dollar-"
								  "quoted string %.*s that does not end", cond, (int) tag, p);
			p = end + tag;
		}
		else if ((c == '-' && p[1] == '-') || (c == '/' && p[1] == '*'))
			return errbuf_set(err, errlen, -1, "invalid --backfill condition \"%s\": a comment "
							  "(%.2s) is not allowed in it", cond, p);
		else if (c == ';')
			return errbuf_set(err, errlen, -1, "invalid --backfill condition \"%s\": a semicolon "
							  "is not allowed in it (one expression)", cond);
		else if (c == ')' && depth == 0)
			return errbuf_set(err, errlen, -1, "invalid --backfill condition \"%s\": its \")\" at "
							  "character %d closes a parenthesis it did not open (one expression, "
							  "its parentheses balanced)", cond, (int) (p - cond) + 1);
		else
		{
			depth += c == '(' ? 1 : c == ')' ? -1 : 0;
			p++;
		}
	}
	if (depth > 0)
		return errbuf_set(err, errlen, -1, "invalid --backfill condition \"%s\": %d \"(\" not "
						  "closed (one expression, its parentheses balanced)", cond, depth);
	return 0;
}
