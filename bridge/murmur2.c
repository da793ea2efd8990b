/*-------------------------------------------------------------------------
 *
 * murmur2.c
 *		Kafka's murmur2 hash, as the Java client computes it.
 *
 * The Java code works on signed 32-bit ints with wrap-around and unsigned
 * shifts (>>>); the same arithmetic on uint32_t gives the same bits.  The
 * key is read as little-endian 4-byte blocks whatever the host's byte order.
 *
 *-------------------------------------------------------------------------
 */
#include "murmur2.h"

#define MURMUR2_SEED 0x9747b28cU
#define MURMUR2_M	0x5bd1e995U
#define MURMUR2_R	24

int32_t
murmur2(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint32_t	h = MURMUR2_SEED ^ (uint32_t) len;
	size_t		nblocks = len / 4;
	size_t		i;

	for (i = 0; i < nblocks; i++, p += 4)
	{
		uint32_t	k = (uint32_t) p[0] | (uint32_t) p[1] << 8 |
			(uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;

		k *= MURMUR2_M;
		k ^= k >> MURMUR2_R;
		k *= MURMUR2_M;
		h *= MURMUR2_M;
		h ^= k;
	}

	switch (len & 3)
	{
		case 3:
			h ^= (uint32_t) p[2] << 16;
			/* FALLTHROUGH */
		case 2:
			h ^= (uint32_t) p[1] << 8;
			/* FALLTHROUGH */
		case 1:
			h ^= (uint32_t) p[0];
			h *= MURMUR2_M;
	}

	h ^= h >> 13;
	h *= MURMUR2_M;
	h ^= h >> 15;
	return (int32_t) h;
}

int32_t
murmur2_partition(const void *key, size_t len, int32_t npartitions)
{
	uint32_t	positive = (uint32_t) murmur2(key, len) & 0x7fffffffU;

	return (int32_t) (positive % (uint32_t) npartitions);
}
