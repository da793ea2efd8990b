/*-------------------------------------------------------------------------
 *
 * pgoutput.h
 *		Reader of PostgreSQL's built-in pgoutput protocol (proto_version 1,
 *		messages on), for managed servers that load no custom output plugin.
 *
 * The decoder turns pgoutput's messages (one per XLogData) into the same
 * begin / job / commit callbacks as the wal2queue frame decoder (frame.h),
 * with the same targets, keys, column kinds, seq numbering and message
 * prefixes as the plugin (plugin/FORMAT.md), so the sinks cannot tell the
 * two apart.  What the plugin decides on the server (which tables, the
 * route and key columns) the decoder decides here, from PgoConfig, with
 * the rules of rowjob.h (shared with rows read by SELECT); the bytes are
 * read by pgoutput_reader.h.
 *
 * Differences that cannot be hidden (docs/managed.md): pgoutput's Begin
 * carries no end LSN, so the begin callback sees end_lsn = commit_lsn + 1
 * and the commit callback the real one, which the bridge's ledger and the
 * sinks take as the transaction's end; a row's key is what the Relation
 * message in force flags (built by the walsender as of the row, so a replay
 * keys every row as the first delivery did): the primary key under REPLICA
 * IDENTITY DEFAULT, in table order, and no key under FULL, NOTHING or USING
 * INDEX (publication.c refuses at start the tables where the plugin's key
 * would differ); stored generated columns are not sent by pgoutput.
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_PGOUTPUT_H
#define W2Q_PGOUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "encoding.h"
#include "frame.h"
#include "message_sign.h"
#include "rowjob.h"
#include "tablematch.h"

#define PGO_MAX_RELATIONS 100000	/* distinct relations described */
#define PGO_MAX_TYPES 100000	/* distinct domains over typed kinds */

/* what the plugin would have been told */
typedef struct PgoConfig
{
	const char *publication;
	TablePatterns tables;		/* n == 0: every published table */
	const char *tables_text;	/* --tables as given, or NULL */
	const char *route_column;	/* NULL: none */
	const char *key_column;		/* NULL: the primary key */
} PgoConfig;

typedef struct PgoRelation
{
	RowjobRel	row;			/* what the sinks see, and its rows' jobs */
} PgoRelation;

typedef struct PgoDecoder
{
	const PgoConfig *cfg;
	PgoRelation *rels;			/* every relation described, by relid */
	uint32_t	nrels;
	uint32_t	rels_cap;
	uint32_t	last;			/* index of the last relation looked up */
	bool		in_txn;			/* between Begin and Commit */
	bool		begun;			/* the begin callback was called */
	FrameTxn	txn;
	FrameValue *values;			/* one row's values (storage reused) */
	uint32_t	values_cap;
	uint32_t   *type_oids;		/* domains whose base type is not text */
	char	   *type_kinds;		/* ... and their kinds */
	uint32_t	ntypes;
	uint32_t	types_cap;
	uint32_t	type_kinds_cap;
	RowjobBuf	keybuf;			/* a composite key (storage reused) */
	/*
	 * May PUBLIC emit logical messages (message_access.h)?  1 yes, -1 not
	 * known: a wal2queue message is then no job, only counted; 0 no.  The
	 * caller sets it for each session (reset makes it -1) and again after
	 * each check.
	 */
	int			messages_public;
	/*
	 * The keys of send()'s signatures (message_sign.h), given by the caller
	 * for each session (pgo_decoder_take_keys) and again when a message
	 * asked for them (PGO_NEED_KEYS): a signed message whose MAC verifies
	 * with the key it names is a job whatever messages_public says.
	 */
	MessageKeys msg_keys;
	uint64_t	xid_ref;		/* the latest full xid known (0: none) */
	uint64_t	txn_xid8;		/* the open transaction's full xid */
	int64_t		key_id;			/* the key of the last PGO_UNTRUSTED, PGO_KEYS_DENIED */
	uint64_t	messages_ignored;	/* since init, never reset */
	uint64_t	messages_revoked;	/* signed with a revoked key: since init */
	/*
	 * The encoding pgoutput sends text in (the connection's client
	 * encoding, the database's: pgo_decoder_set_encoding()); names, values
	 * and a message's prefix converted to UTF-8 live in scratch until the
	 * next message.  A message's content is passed on as it is.
	 */
	EncodingConv enc;
	char	  **scratch;
	uint32_t	nscratch;
	uint32_t	scratch_cap;
} PgoDecoder;

/*
 * pgo_decode()'s answers about a signed message (besides FRAME_* and the
 * handlers'): the decoder does not know the key the message names and the
 * keys' snapshot does not see its transaction: read the keys again (a
 * fresh snapshot) and decode the same message again; or the message is
 * signed with a key of a table the bridge does not trust (key_id): it
 * cannot be judged, so stop without confirming past it.
 */
#define PGO_NEED_KEYS	(-10)
#define PGO_UNTRUSTED	(-11)
/* signed, but the bridge's role may not read the keys (key_id): stop too */
#define PGO_KEYS_DENIED	(-12)

extern void pgo_decoder_init(PgoDecoder *dec, const PgoConfig *cfg);

/*
 * Forget any open transaction and every relation (after a reconnect: a new
 * walsender sends every Relation again), so memory is bounded by the
 * relations of one session.
 */
extern void pgo_decoder_reset(PgoDecoder *dec);
extern void pgo_decoder_free(PgoDecoder *dec);

/*
 * Text arrives in pg_encoding (a walsender's client_encoding): convert it
 * to UTF-8 from now on (NULL, UTF8, SQL_ASCII: as it is).  Returns 0, or
 * -1 with err set for an encoding the bridge cannot convert.
 */
extern int	pgo_decoder_set_encoding(PgoDecoder *dec, const char *pg_encoding,
									 char *err, size_t errlen);

/*
 * The keys to verify with from now on (moved from keys, left empty); a
 * keys->state of MESSAGE_KEY_UNKNOWN keeps the state the decoder had (a
 * re-read of the keys, which does not judge the table again)
 */
extern void pgo_decoder_take_keys(PgoDecoder *dec, MessageKeys *keys);

/*
 * Decode one pgoutput message.  Returns FRAME_OK, FRAME_MALFORMED (err says
 * why, e.g. "pgoutput 'I' message at byte 9: value 3 runs past the end of
 * the message"), FRAME_NOMEM, or a handler's non-zero return.  After
 * FRAME_MALFORMED the decoder must be reset before it is used again.
 */
extern int	pgo_decode(PgoDecoder *dec, const char *msg, size_t len,
					   const FrameHandlers *h, void *arg,
					   char *err, size_t errlen);

/* the START_REPLICATION options for cfg: name, value, ..., NULL */
extern void pgo_plugin_options(const PgoConfig *cfg, char *pubbuf,
							   size_t pubbuflen, const char **opts);

#endif							/* W2Q_PGOUTPUT_H */
