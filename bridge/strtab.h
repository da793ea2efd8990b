/*-------------------------------------------------------------------------
 *
 * strtab.h
 *		Interned byte strings: an arena, offsets and an open-addressing
 *		hash.  Strings are numbered 0, 1, ... in the order they were added.
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_STRTAB_H
#define W2Q_STRTAB_H

#include <stddef.h>
#include <stdint.h>

typedef struct StrTab
{
	char	   *arena;
	size_t		arena_cap;
	size_t	   *offs;			/* string i is arena[offs[i] .. offs[i + 1]) */
	uint32_t	n;
	uint32_t	offs_cap;
	uint32_t   *slots;			/* string index + 1; 0 is empty */
	uint32_t	nslots;			/* a power of two */
} StrTab;

/* string i and its length */
extern const char *strtab_get(const StrTab *t, uint32_t i, size_t *len);

/* the index of a string, or -1 */
extern int64_t strtab_find(const StrTab *t, const char *s, size_t len);

/* the index of a string, added if absent; -1 when out of memory */
extern int64_t strtab_intern(StrTab *t, const char *s, size_t len);

/* forget every string, keeping the memory */
extern void strtab_clear(StrTab *t);

extern void strtab_free(StrTab *t);

#endif							/* W2Q_STRTAB_H */
