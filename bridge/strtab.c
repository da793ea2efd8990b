/*-------------------------------------------------------------------------
 *
 * strtab.c
 *		Interned byte strings (see strtab.h).
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "strtab.h"

/* FNV-1a */
static uint64_t
hash_bytes(const char *s, size_t len)
{
	uint64_t	h = UINT64_C(14695981039346656037);

	for (size_t i = 0; i < len; i++)
	{
		h ^= (unsigned char) s[i];
		h *= UINT64_C(1099511628211);
	}
	return h;
}

const char *
strtab_get(const StrTab *t, uint32_t i, size_t *len)
{
	*len = t->offs[i + 1] - t->offs[i];
	return t->arena + t->offs[i];
}

int64_t
strtab_find(const StrTab *t, const char *s, size_t len)
{
	uint32_t	mask = t->nslots - 1;

	if (t->nslots == 0)
		return -1;
	for (uint32_t j = hash_bytes(s, len) & mask; t->slots[j] != 0; j = (j + 1) & mask)
	{
		size_t		elen;
		const char *e = strtab_get(t, t->slots[j] - 1, &elen);

		if (elen == len && memcmp(e, s, len) == 0)
			return t->slots[j] - 1;
	}
	return -1;
}

static void
slot_insert(uint32_t *slots, uint32_t nslots, uint64_t hash, uint32_t value)
{
	uint32_t	j = hash & (nslots - 1);

	while (slots[j] != 0)
		j = (j + 1) & (nslots - 1);
	slots[j] = value;
}

static int
rehash(StrTab *t, uint32_t nslots)
{
	uint32_t   *slots = calloc(nslots, sizeof(uint32_t));

	if (slots == NULL)
		return -1;
	for (uint32_t i = 0; i < t->n; i++)
	{
		size_t		len;
		const char *s = strtab_get(t, i, &len);

		slot_insert(slots, nslots, hash_bytes(s, len), i + 1);
	}
	free(t->slots);
	t->slots = slots;
	t->nslots = nslots;
	return 0;
}

static int
reserve(StrTab *t, size_t len)
{
	size_t		used;

	if (t->n + 2 > t->offs_cap)
	{
		uint32_t	ncap = t->offs_cap ? t->offs_cap * 2 : 4;
		size_t	   *offs = realloc(t->offs, ncap * sizeof(size_t));

		if (offs == NULL)
			return -1;
		if (t->offs == NULL)
			offs[0] = 0;
		t->offs = offs;
		t->offs_cap = ncap;
	}
	used = t->offs[t->n];
	if (t->arena == NULL || used + len > t->arena_cap)
	{
		size_t		ncap = t->arena_cap ? t->arena_cap * 2 : 64;
		char	   *arena;

		if (ncap < used + len)
			ncap = used + len;
		if ((arena = realloc(t->arena, ncap)) == NULL)
			return -1;
		t->arena = arena;
		t->arena_cap = ncap;
	}
	return 0;
}

int64_t
strtab_intern(StrTab *t, const char *s, size_t len)
{
	int64_t		found = strtab_find(t, s, len);
	size_t		used;

	if (found >= 0)
		return found;
	if ((t->n + 1) * 2 > t->nslots &&
		rehash(t, t->nslots ? t->nslots * 2 : 8) != 0)
		return -1;
	if (reserve(t, len) != 0)
		return -1;
	used = t->offs[t->n];
	if (len > 0)
		memcpy(t->arena + used, s, len);
	t->offs[t->n + 1] = used + len;
	t->n++;
	slot_insert(t->slots, t->nslots, hash_bytes(s, len), t->n);
	return t->n - 1;
}

void
strtab_clear(StrTab *t)
{
	t->n = 0;
	if (t->slots != NULL)
		memset(t->slots, 0, t->nslots * sizeof(uint32_t));
}

void
strtab_free(StrTab *t)
{
	free(t->arena);
	free(t->offs);
	free(t->slots);
	memset(t, 0, sizeof(*t));
}
