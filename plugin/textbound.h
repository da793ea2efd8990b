/*-------------------------------------------------------------------------
 *
 * textbound.h
 *		An upper and a lower bound of the length of a value's text, without
 *		calling its output function on the value itself.
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_TEXTBOUND_H
#define W2Q_TEXTBOUND_H

/* values of up to this many stored bytes are bounded without a walk */
#define W2Q_SMALL_VALUE		1024

extern Size w2q_json_string_size(const char *s, Size len);
extern Size w2q_text_bound(Oid typid, Datum value, Size stop, Size *lower);

#endif							/* W2Q_TEXTBOUND_H */
