/*-------------------------------------------------------------------------
 *
 * sha256.h
 *		SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), self-contained,
 *		for the signatures of send()'s messages (message_sign.h).
 *
 * No library: the bridge links no crypto library and needs only these.
 * Tested against the FIPS 180-4 examples and the RFC 4231 HMAC vectors
 * (test/unit/test_sha256.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_SHA256_H
#define W2Q_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_BLOCK	64
#define SHA256_DIGEST	32

typedef struct Sha256
{
	uint32_t	h[8];
	uint64_t	len;			/* bytes hashed so far */
	unsigned char buf[SHA256_BLOCK];
	size_t		nbuf;
} Sha256;

extern void sha256_init(Sha256 *s);
extern void sha256_update(Sha256 *s, const void *data, size_t len);
extern void sha256_final(Sha256 *s, unsigned char out[SHA256_DIGEST]);
extern void sha256(const void *data, size_t len, unsigned char out[SHA256_DIGEST]);

/*
 * HMAC-SHA256 in three steps, so that a message in pieces needs no copy:
 * hmac_sha256_init with the key, then hmac_sha256_update for each piece,
 * then hmac_sha256_final.
 */
typedef struct HmacSha256
{
	Sha256		inner;
	unsigned char opad[SHA256_BLOCK];
} HmacSha256;

extern void hmac_sha256_init(HmacSha256 *h, const void *key, size_t keylen);
extern void hmac_sha256_update(HmacSha256 *h, const void *data, size_t len);
extern void hmac_sha256_final(HmacSha256 *h, unsigned char out[SHA256_DIGEST]);

#endif							/* W2Q_SHA256_H */
