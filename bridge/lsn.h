/*-------------------------------------------------------------------------
 *
 * lsn.h
 *		Log sequence numbers as PostgreSQL writes them ("16/B374D848").
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_LSN_H
#define W2Q_LSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "%X/%X" needs at most 17 bytes with its terminator */
#define LSN_STRLEN 18

/* "%X/%X" of lsn into buf; returns buf */
extern const char *lsn_format(uint64_t lsn, char *buf, size_t buflen);

/* parse "%X/%X" (exactly len bytes); false if it is not one */
extern bool lsn_parse(const char *s, size_t len, uint64_t *out);

#endif							/* W2Q_LSN_H */
