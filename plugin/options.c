/*-------------------------------------------------------------------------
 *
 * options.c
 *		Parse the options of the wal2queue output plugin.
 *
 * One function, as pgoutput's parse_output_parameters: every option at
 * most once, unknown options and bad values are errors naming the option
 * (and the value), worded like the server's own.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "nodes/parsenodes.h"
#include "utils/builtins.h"

#include "options.h"
#include "pattern.h"
#include "../common/tablepattern.h"

static void
bad_value(DefElem *elem, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value for wal2queue option \"%s\": \"%s\"",
					elem->defname, elem->arg ? strVal(elem->arg) : ""),
			 hint ? errhint("%s", hint) : 0));
}

/* one option's string value, or an error naming the option */
static char *
option_string(DefElem *elem)
{
	if (elem->arg == NULL || strVal(elem->arg)[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("wal2queue option \"%s\" requires a value",
						elem->defname)));
	return strVal(elem->arg);
}

static bool
option_bool(DefElem *elem)
{
	bool		result;

	if (elem->arg == NULL)
		return true;
	if (!parse_bool(strVal(elem->arg), &result))
		bad_value(elem, "Use a boolean: true or false.");
	return result;
}

/* split "a.*, b.c" into checked patterns */
static List *
parse_tables(DefElem *elem)
{
	char	   *raw = pstrdup(option_string(elem));
	List	   *result = NIL;
	char	   *tok = raw;

	for (;;)
	{
		char	   *comma = strchr(tok, ',');

		if (comma)
			*comma = '\0';
		tok = tablepattern_trim(tok);
		if (*tok == '\0')
			bad_value(elem, "The list has an empty pattern.");
		result = lappend(result, w2q_pattern_parse(tok));
		if (comma == NULL)
			break;
		tok = comma + 1;
	}
	return result;
}

static bool
parse_format(DefElem *elem)
{
	char	   *v = option_string(elem);

	if (strcmp(v, "json") == 0)
		return true;
	if (strcmp(v, "binary") != 0)
		bad_value(elem, "Use \"binary\" or \"json\".");
	return false;
}

static int
parse_proto_version(DefElem *elem)
{
	char	   *v = option_string(elem);
	const char *p;

	/* digits only: no sign, no blanks, no base prefix */
	for (p = v; *p; p++)
		if (!isdigit((unsigned char) *p))
			bad_value(elem, psprintf("Use a protocol version number; this wal2queue supports %d.",
									 W2Q_PROTO_VERSION));
	if (strlen(v) > 9 || atoi(v) != W2Q_PROTO_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("wal2queue protocol version %s is not supported", v),
				 errdetail("This wal2queue supports protocol version %d.",
						   W2Q_PROTO_VERSION)));
	return W2Q_PROTO_VERSION;
}

/*
 * A byte count, with or without a unit (kB, MB, GB), within range: the
 * grammar of common/bytesize.h, which the bridge's --max-job-bytes and
 * the registry read the same way.  Decimal only: not the server's
 * parse_int(), which reads 010000 as octal (4096) and 0x1000 as hex.
 */
static int
parse_max_job_bytes(DefElem *elem)
{
	char	   *v = option_string(elem);
	long long	n = 0;

	switch (bytesize_parse(v, W2Q_MAX_JOB_BYTES_MIN, W2Q_MAX_JOB_BYTES_MAX, &n))
	{
		case BYTESIZE_OK:
			break;
		case BYTESIZE_RANGE:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s is outside the valid range for wal2queue option \"%s\" (%d .. %d)",
							v, elem->defname, W2Q_MAX_JOB_BYTES_MIN,
							W2Q_MAX_JOB_BYTES_MAX)));
			break;
		default:
			bad_value(elem, "Use a decimal number of bytes, optionally followed by kB, MB or GB "
					  "(no sign, blanks, fraction or base prefix), e.g. 64MB.");
	}
	return (int) n;
}

void
w2q_parse_options(List *options, W2QOptions *opt)
{
	bool		seen[7] = {0};
	ListCell   *lc;

	memset(opt, 0, sizeof(*opt));
	opt->messages = true;
	opt->proto_version = W2Q_PROTO_VERSION;
	opt->max_job_bytes = W2Q_MAX_JOB_BYTES_DEFAULT;

	foreach(lc, options)
	{
		DefElem    *elem = lfirst(lc);
		const char *name = elem->defname;
		int			which;

		Assert(elem->arg == NULL || IsA(elem->arg, String));
		if (strcmp(name, "format") == 0)
			which = 0;
		else if (strcmp(name, "tables") == 0)
			which = 1;
		else if (strcmp(name, "route-column") == 0)
			which = 2;
		else if (strcmp(name, "key-column") == 0)
			which = 3;
		else if (strcmp(name, "messages") == 0)
			which = 4;
		else if (strcmp(name, "proto-version") == 0)
			which = 5;
		else if (strcmp(name, "max-job-bytes") == 0)
			which = 6;
		else
			ereport(ERROR,
					(errcode(ERRCODE_SYNTAX_ERROR),
					 errmsg("unrecognized wal2queue option \"%s\"", name),
					 errhint("Valid options are: format, tables, route-column, key-column, messages, proto-version, max-job-bytes.")));
		if (seen[which])
			ereport(ERROR,
					(errcode(ERRCODE_SYNTAX_ERROR),
					 errmsg("conflicting or redundant options"),
					 errdetail("wal2queue option \"%s\" is given more than once.",
							   name)));
		seen[which] = true;

		switch (which)
		{
			case 0:
				opt->json = parse_format(elem);
				break;
			case 1:
				opt->tables = parse_tables(elem);
				break;
			case 2:
				opt->route_column = pstrdup(option_string(elem));
				break;
			case 3:
				opt->key_column = pstrdup(option_string(elem));
				break;
			case 4:
				opt->messages = option_bool(elem);
				opt->messages_given = true;
				break;
			case 5:
				opt->proto_version = parse_proto_version(elem);
				break;
			case 6:
				opt->max_job_bytes = parse_max_job_bytes(elem);
				break;
		}
	}
}
