/*-------------------------------------------------------------------------
 *
 * utf8.h
 *		Text in the database encoding as UTF-8, for every job.
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_UTF8_H
#define W2Q_UTF8_H

extern void w2q_utf8_init(bool json);
extern bool w2q_utf8_converts(void);
extern char *w2q_to_utf8(const char *s, size_t len);

#endif							/* W2Q_UTF8_H */
