/*-------------------------------------------------------------------------
 *
 * message_access.h
 *		May anyone emit a logical message in this database?
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_MESSAGE_ACCESS_H
#define W2Q_MESSAGE_ACCESS_H

extern void w2q_messages_reset(void);
extern bool w2q_messages_public(void);

#endif							/* W2Q_MESSAGE_ACCESS_H */
