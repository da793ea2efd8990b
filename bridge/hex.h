/*-------------------------------------------------------------------------
 *
 * hex.h
 *		The value of one hexadecimal digit (URL escapes, JSON \u escapes).
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_HEX_H
#define W2Q_HEX_H

/* 0..15, or -1 when c is not a hexadecimal digit */
static inline int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif							/* W2Q_HEX_H */
