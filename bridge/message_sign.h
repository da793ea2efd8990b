/*-------------------------------------------------------------------------
 *
 * message_sign.h
 *		Signed wal2queue messages (--plugin=pgoutput): the key, and the
 *		check of a message's MAC (plugin/FORMAT.md, "Signed messages").
 *
 * send() signs each message with the newest key of the database that is
 * not revoked (the table wal2queue.message_key, sql/src/05_message_key.sql,
 * one row per key, never deleted): its prefix is "wal2queue!", the key's
 * id in decimal, ".", 64 lower-case hex digits, then ":TARGET", "#KEY" as
 * an unsigned prefix.  The MAC is HMAC-SHA256(key, xid || unsigned prefix
 * || 0x00 || payload), xid the transaction's full 64-bit ID (epoch and
 * pgoutput's 32-bit Begin xid: message_xid_extend()) as 8 bytes big
 * endian.  The bridge reads every key, with the snapshot it read them in,
 * at every stream open (when its role may: GRANT SELECT), and again when a
 * message names a key it does not know, or one that does not verify its MAC
 * (a reinstall made a new key under the id), and the snapshot does not see
 * the message's transaction (pgoutput.c, judge_signed): a key that signed a
 * message was committed before it, so a snapshot that sees the message and
 * no such key is positive evidence that the message is not send()'s.
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_MESSAGE_SIGN_H
#define W2Q_MESSAGE_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"

#define MESSAGE_SIGN_MAX_KEY	64	/* bytes; 05_message_key.sql: 32..64 */
#define MESSAGE_SIGN_MAC_HEX	64
#define MESSAGE_SIGN_ID_DIGITS	19	/* a bigint key id in decimal */

typedef enum MessageKeyState
{
	MESSAGE_KEY_UNKNOWN = 0,	/* not asked (yet) */
	MESSAGE_KEY_ABSENT,			/* no table wal2queue.message_key */
	MESSAGE_KEY_DENIED,			/* the bridge's role may not read it */
	MESSAGE_KEY_UNTRUSTED,		/* read, but not the database owner's */
	MESSAGE_KEY_READ			/* read: messages are verified */
} MessageKeyState;

typedef struct MessageKey
{
	int64_t		id;
	bool		revoked;
	size_t		len;
	unsigned char key[MESSAGE_SIGN_MAX_KEY];
} MessageKey;

/* every key of the table, and the snapshot they were read in */
typedef struct MessageKeys
{
	MessageKeyState state;
	MessageKey *keys;			/* in id order */
	uint32_t	nkeys;
	bool		have_snapshot;
	uint64_t	xmin;			/* pg_current_snapshot() of the read */
	uint64_t	xmax;
	uint64_t   *xip;
	uint32_t	nxip;
} MessageKeys;

extern void message_keys_free(MessageKeys *keys);

/* move src into dst (freeing what dst held); src is left empty */
extern void message_keys_move(MessageKeys *dst, MessageKeys *src);

/*
 * Add key id from its hex text (MESSAGE_KEYS_SQL, message_access.h); false
 * with err set (one line) when it is not 32 to 64 bytes in hex, or ids do
 * not come in increasing order, or memory runs out
 */
extern bool message_keys_add(MessageKeys *keys, int64_t id, const char *hex,
							 bool revoked, char *err, size_t errlen);

/* the snapshot of the read, pg_current_snapshot()'s text "xmin:xmax:xip,..." */
extern bool message_keys_set_snapshot(MessageKeys *keys, const char *text,
									  char *err, size_t errlen);

/* key id, or NULL */
extern const MessageKey *message_keys_find(const MessageKeys *keys, int64_t id);

/* did the read's snapshot see (committed) transaction xid (64 bits)? */
extern bool message_keys_saw(const MessageKeys *keys, uint64_t xid);

/*
 * A 32-bit xid (pgoutput's Begin) as a full one, taken as the nearest to
 * ref (a full xid known: within 2^31 either way); ref 0: epoch 0
 */
extern uint64_t message_xid_extend(uint64_t ref, uint32_t xid);

/*
 * A signed prefix's key id: "ID." (1 to 19 decimal digits, no leading
 * zero) at p, at most len bytes; returns the bytes taken including the
 * dot, or 0 when there is none
 */
extern size_t message_sign_parse_id(const char *p, size_t len, int64_t *id);

/*
 * Does mac (MESSAGE_SIGN_MAC_HEX characters) sign the message of
 * transaction xid with the unsigned prefix "wal2queue" || rest and payload?
 * Compared in constant time; false without a key.
 */
extern bool message_sign_verify(const MessageKey *key, uint64_t xid,
								FrameBytes rest, FrameBytes payload,
								const char *mac);

/* the MAC of such a message, in lower-case hex (tests; send() in SQL) */
extern void message_sign_mac(const MessageKey *key, uint64_t xid,
							 FrameBytes rest, FrameBytes payload,
							 char out[MESSAGE_SIGN_MAC_HEX + 1]);

#endif							/* W2Q_MESSAGE_SIGN_H */
