/*-------------------------------------------------------------------------
 *
 * pgerror.c
 *		Transient or permanent: PostgreSQL errors classified by SQLSTATE
 *		(see pgerror.h), their hints, and the SQLSTATE and the plain text
 *		of a message libpq built with PQERRORS_VERBOSE.  Connecting and
 *		running commands under the bridge's limits are in pgconnect.c.
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "pgerror.h"

typedef struct SqlstateHint
{
	const char *sqlstate;		/* a full code, or a class ("28") */
	const char *hint;
} SqlstateHint;

/* the first match wins: full codes before their class */
static const SqlstateHint hints[] = {
	{"28P01", "check the password: " PASSWORD_HINT},
	{"28", "the server refused this user, database or client address: check pg_hba.conf "
	 "(a logical replication connection matches the database column, not \"replication\") "
	 "and that the role may log in"},
	{"3D000", "check dbname in --dbname"},
	{"42501", "the role lacks a privilege; a bridge's role needs REPLICATION "
	 "(ALTER ROLE name REPLICATION)"},
	{"42704", "check the name; a missing slot is created by --create-slot"},
	{"42P01", "check the table name"},
	{"53400", "a configured limit is reached: raise max_replication_slots or max_wal_senders"},
	{"55000", "logical decoding needs wal_level = logical on a primary server"},
	{"58P01", "is the wal2queue plugin installed on the server (make install)?"},
	{"0A000", "the server does not support this"},
	{NULL, NULL}
};

/* SQLSTATEs a moment or a restart can cure (full codes, or classes) */
static const char *const transient[] = {
	"08",						/* connection exception */
	"40001",					/* serialization failure */
	"40P01",					/* deadlock detected */
	"55006",					/* object in use: the slot is held */
	"55P03",					/* lock not available */
	"57014",					/* query canceled */
	"57P01",					/* admin shutdown */
	"57P02",					/* crash shutdown */
	"57P03",					/* cannot connect now */
	"57P05",					/* idle session timeout */
	NULL
};

static bool
valid_sqlstate(const char *s)
{
	int			i;

	if (s == NULL)
		return false;
	for (i = 0; i < 5; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z')))
			return false;
	return s[5] == '\0';
}

/* does sqlstate match a full code or a two-character class? */
static bool
matches(const char *sqlstate, const char *pattern)
{
	return strncmp(sqlstate, pattern, strlen(pattern)) == 0;
}

PgErrorKind
pgerror_classify(const char *sqlstate)
{
	const char *const *t;

	if (!valid_sqlstate(sqlstate))
		return PGERR_UNKNOWN;
	/* insufficient resources, except a configured limit, pass */
	if (matches(sqlstate, "53"))
		return strcmp(sqlstate, "53400") == 0 ? PGERR_PERMANENT : PGERR_TRANSIENT;
	for (t = transient; *t; t++)
		if (matches(sqlstate, *t))
			return PGERR_TRANSIENT;
	return PGERR_PERMANENT;
}

/* SQLSTATEs that end a running stream for good, with evidence (pgerror.h) */
static const char *const stream_end_permanent[] = {
	PGERR_UNDEFINED_FILE,		/* a WAL segment the slot needs is gone */
	NULL
};

/*
 * Does the message name a WAL segment file (24 hex digits, as
 * 000000010000000000000003)?  The walsender's "requested WAL segment %s has
 * already been removed" does in every language; a missing library or any
 * other file does not.
 */
static bool
names_wal_segment(const char *message)
{
	const char *p;
	int			run = 0;

	if (message == NULL)
		return false;
	for (p = message;; p++)
	{
		if (isxdigit((unsigned char) *p))
			run++;
		else
		{
			if (run == 24)
				return true;
			run = 0;
		}
		if (*p == '\0')
			return false;
	}
}

PgErrorKind
pgerror_classify_stream_end(const char *sqlstate, const char *message)
{
	const char *const *t;

	if (!valid_sqlstate(sqlstate))
		return PGERR_UNKNOWN;
	for (t = stream_end_permanent; *t; t++)
		if (matches(sqlstate, *t))
			return names_wal_segment(message) ? PGERR_PERMANENT : PGERR_TRANSIENT;
	return PGERR_TRANSIENT;
}

const char *
pgerror_hint(const char *sqlstate)
{
	const SqlstateHint *h;

	if (!valid_sqlstate(sqlstate))
		return NULL;
	for (h = hints; h->sqlstate; h++)
		if (matches(sqlstate, h->sqlstate))
			return h->hint;
	return NULL;
}

/* at p, "XXXXX: " with a valid SQLSTATE? */
static bool
sqlstate_at(const char *p)
{
	char		code[6];

	if (strlen(p) < 7 || p[5] != ':' || p[6] != ' ')
		return false;
	memcpy(code, p, 5);
	code[5] = '\0';
	return valid_sqlstate(code);
}

/*
 * libpq's verbose form is "SEVERITY:  XXXXX: primary": the code follows the
 * first ":  " of a line (the severity is translated, the layout is not).
 */
static const char *
find_sqlstate(const char *line, const char *end)
{
	const char *p = line;

	while (p < end && (p = strstr(p, ":  ")) != NULL && p < end)
	{
		if (sqlstate_at(p + 3))
			return p + 3;
		p += 3;
	}
	return NULL;
}

bool
pgerror_sqlstate_in_message(const char *msg, char sqlstate[6])
{
	const char *line = msg;
	bool		found = false;

	sqlstate[0] = '\0';
	while (line && *line)
	{
		const char *nl = strchr(line, '\n');
		const char *end = nl ? nl : line + strlen(line);
		const char *code = find_sqlstate(line, end);

		if (code)
		{
			memcpy(sqlstate, code, 5);
			sqlstate[5] = '\0';
			found = true;
		}
		line = nl ? nl + 1 : NULL;
	}
	return found;
}

void
pgerror_plain_message(const char *msg, char *buf, size_t buflen)
{
	const char *line = msg;
	size_t		n = 0;

	if (buflen == 0)
		return;
	buf[0] = '\0';
	while (line && *line)
	{
		const char *nl = strchr(line, '\n');
		const char *end = nl ? nl : line + strlen(line);
		const char *code = find_sqlstate(line, end);

		if (strncmp(line, "LOCATION:  ", 11) != 0 && end > line)
		{
			if (code)
				n += snprintf(buf + n, n < buflen ? buflen - n : 0, "%s%.*s%.*s",
							  n ? " " : "", (int) (code - line), line,
							  (int) (end - code - 7), code + 7);
			else
				n += snprintf(buf + n, n < buflen ? buflen - n : 0, "%s%.*s",
							  n ? " " : "", (int) (end - line), line);
			if (n >= buflen)
				return;
		}
		line = nl ? nl + 1 : NULL;
	}
}
