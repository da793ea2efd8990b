/*-------------------------------------------------------------------------
 *
 * job.h
 *		One decoded job, as both encoders see it, and how rows and
 *		messages become jobs (job.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_JOB_H
#define W2Q_JOB_H

#include "access/htup.h"
#include "access/xlogdefs.h"

#include "relinfo.h"

#define W2Q_MESSAGE_PREFIX		"wal2queue"
#define W2Q_MESSAGE_SIGNED		'!'	/* "wal2queue!ID.MAC": a signed prefix */
#define W2Q_MESSAGE_KEY_ID_DIGITS 19	/* a bigint key id, in decimal */
#define W2Q_MESSAGE_MAC_HEX		64	/* hex digits of HMAC-SHA256 */

typedef struct W2QJob
{
	uint32		seq;
	const char *target;
	const char *key;			/* NULL: none */
	W2QRelInfo *rel;			/* NULL for a logical message */
	char	  **texts;			/* rows: text of each column, NULL for NULL */
	const char *payload;		/* messages */
	Size		payload_len;
	bool		payload_base64; /* JSON form: payload is not valid text */
	Size		size;			/* its estimated size in the chosen form */
	Size		oversize;		/* > max-job-bytes: its estimated size, and
								 * texts/payload are not filled */
} W2QJob;

extern void w2q_row_job(W2QJob *job, W2QRelInfo *info, Relation relation,
						HeapTuple tuple, const W2QOptions *opt);
extern bool w2q_message_job(W2QJob *job, const char *prefix,
							const char *message, Size message_size,
							const W2QOptions *opt);
extern void w2q_claim_check(W2QJob *job, XLogRecPtr lsn);

#endif							/* W2Q_JOB_H */
