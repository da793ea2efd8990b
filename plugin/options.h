/*-------------------------------------------------------------------------
 *
 * options.h
 *		The options of the wal2queue output plugin.
 *
 * Given to START_REPLICATION or pg_logical_slot_*_changes; parsed once per
 * decoding session by options.c, read by everything else.
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_OPTIONS_H
#define W2Q_OPTIONS_H

#include "nodes/pg_list.h"

/* max-job-bytes: its grammar, default and range, shared with the bridge */
#include "../common/bytesize.h"

#define W2Q_PROTO_VERSION		1

typedef struct W2QOptions
{
	bool		json;			/* format: json (else binary) */
	List	   *tables;			/* patterns (char *); NIL means every table */
	char	   *route_column;	/* NULL: none */
	char	   *key_column;		/* NULL: the primary key */
	bool		messages;		/* decode wal2queue logical messages */
	bool		messages_given; /* the option was given: else only where
								 * PUBLIC may not emit them */
	int			proto_version;
	int			max_job_bytes;	/* larger jobs become claim checks */
} W2QOptions;

extern void w2q_parse_options(List *options, W2QOptions *opt);

#endif							/* W2Q_OPTIONS_H */
