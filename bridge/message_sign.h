/*-------------------------------------------------------------------------
 *
 * message_sign.h
 *		Signed wal2queue messages (--plugin=pgoutput): the key, and the
 *		check of a message's MAC (plugin/FORMAT.md, "Signed messages").
 *
 * send() signs each message with the database's key (the table
 * wal2queue.message_key, sql/src/05_message_key.sql): its prefix is
 * "wal2queue!" and 64 lower-case hex digits, then ":TARGET", "#KEY" as an
 * unsigned prefix.  The MAC is HMAC-SHA256(key, xid || unsigned prefix ||
 * 0x00 || payload), xid the transaction's (pgoutput's Begin) as 8 bytes big
 * endian.  The bridge reads the key at every stream open (when its role
 * may: GRANT SELECT) and makes a job of a message whose MAC verifies even
 * while PUBLIC may emit messages (pgoutput.c, decode_message).
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

typedef enum MessageKeyState
{
	MESSAGE_KEY_UNKNOWN = 0,	/* not asked (yet) */
	MESSAGE_KEY_ABSENT,			/* no table wal2queue.message_key */
	MESSAGE_KEY_DENIED,			/* the bridge's role may not read it */
	MESSAGE_KEY_UNTRUSTED,		/* not the database owner's: not read */
	MESSAGE_KEY_READ			/* read: messages are verified */
} MessageKeyState;

typedef struct MessageKey
{
	MessageKeyState state;
	size_t		len;
	unsigned char key[MESSAGE_SIGN_MAX_KEY];
} MessageKey;

/*
 * The key from its hex text (MESSAGE_KEY_SQL, message_access.h) into key
 * (state MESSAGE_KEY_READ); false with err set (one line) when it is not
 * 32 to 64 bytes in hex
 */
extern bool message_key_from_hex(const char *hex, MessageKey *key,
								 char *err, size_t errlen);

/*
 * Does mac (MESSAGE_SIGN_MAC_HEX characters) sign the message of
 * transaction xid with the unsigned prefix "wal2queue" || rest and payload?
 * Compared in constant time; false without a key.
 */
extern bool message_sign_verify(const MessageKey *key, uint32_t xid,
								FrameBytes rest, FrameBytes payload,
								const char *mac);

/* the MAC of such a message, in lower-case hex (tests; send() in SQL) */
extern void message_sign_mac(const MessageKey *key, uint32_t xid,
							 FrameBytes rest, FrameBytes payload,
							 char out[MESSAGE_SIGN_MAC_HEX + 1]);

#endif							/* W2Q_MESSAGE_SIGN_H */
