/*-------------------------------------------------------------------------
 *
 * message_sign.c
 *		The key of send()'s signatures and their check (see
 *		message_sign.h).
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "hex.h"
#include "message_sign.h"
#include "sha256.h"

#define MESSAGE_PREFIX	"wal2queue"

void
message_keys_free(MessageKeys *keys)
{
	free(keys->keys);
	free(keys->xip);
	memset(keys, 0, sizeof(*keys));
}

void
message_keys_move(MessageKeys *dst, MessageKeys *src)
{
	if (dst == src)
		return;
	message_keys_free(dst);
	*dst = *src;
	memset(src, 0, sizeof(*src));
}

bool
message_keys_add(MessageKeys *keys, int64_t id, const char *v, bool revoked,
				 char *err, size_t errlen)
{
	size_t		n = strlen(v);
	size_t		i;
	MessageKey *k;
	MessageKey *grown;

	if (n % 2 != 0 || n / 2 < 32 || n / 2 > MESSAGE_SIGN_MAX_KEY)
		return errbuf_set(err, errlen, false, "key %lld in wal2queue.message_key has %zu bytes, not 32 to %d",
						  (long long) id, n / 2, MESSAGE_SIGN_MAX_KEY);
	if (id <= 0 || (keys->nkeys > 0 && keys->keys[keys->nkeys - 1].id >= id))
		return errbuf_set(err, errlen, false, "wal2queue.message_key: key id %lld is not positive, or out of order",
						  (long long) id);
	grown = realloc(keys->keys, (keys->nkeys + 1) * sizeof(MessageKey));
	if (grown == NULL)
		return errbuf_set(err, errlen, false, "out of memory");
	keys->keys = grown;
	k = &keys->keys[keys->nkeys];
	memset(k, 0, sizeof(*k));
	for (i = 0; i < n / 2; i++)
	{
		int			hi = hex_digit(v[2 * i]);
		int			lo = hex_digit(v[2 * i + 1]);

		if (hi < 0 || lo < 0)
		{
			memset(k, 0, sizeof(*k));
			return errbuf_set(err, errlen, false, "key %lld in wal2queue.message_key is not in hex",
							  (long long) id);
		}
		k->key[i] = (unsigned char) (hi << 4 | lo);
	}
	k->id = id;
	k->revoked = revoked;
	k->len = n / 2;
	keys->nkeys++;
	return true;
}

/* one full xid of a snapshot's text at *p, up to stop; advances *p */
static bool
snapshot_xid(const char **p, char stop, uint64_t *out)
{
	uint64_t	v = 0;
	const char *s = *p;

	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++)
	{
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t) (*s - '0');
	}
	if (*s != stop && !(stop == ',' && *s == '\0'))
		return false;
	*out = v;
	*p = *s ? s + 1 : s;
	return true;
}

bool
message_keys_set_snapshot(MessageKeys *keys, const char *text, char *err, size_t errlen)
{
	const char *p = text;
	uint64_t	xid;

	free(keys->xip);
	keys->xip = NULL;
	keys->nxip = 0;
	keys->have_snapshot = false;
	if (!snapshot_xid(&p, ':', &keys->xmin) || !snapshot_xid(&p, ':', &keys->xmax))
		return errbuf_set(err, errlen, false, "unexpected pg_current_snapshot() \"%s\"", text);
	while (*p)
	{
		uint64_t   *grown;

		if (!snapshot_xid(&p, ',', &xid))
			return errbuf_set(err, errlen, false, "unexpected pg_current_snapshot() \"%s\"", text);
		grown = realloc(keys->xip, (keys->nxip + 1) * sizeof(uint64_t));
		if (grown == NULL)
			return errbuf_set(err, errlen, false, "out of memory");
		keys->xip = grown;
		keys->xip[keys->nxip++] = xid;
	}
	keys->have_snapshot = true;
	return true;
}

const MessageKey *
message_keys_find(const MessageKeys *keys, int64_t id)
{
	uint32_t	lo = 0;
	uint32_t	hi = keys->nkeys;

	while (lo < hi)
	{
		uint32_t	mid = lo + (hi - lo) / 2;

		if (keys->keys[mid].id == id)
			return &keys->keys[mid];
		if (keys->keys[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

bool
message_keys_saw(const MessageKeys *keys, uint64_t xid)
{
	uint32_t	i;

	if (!keys->have_snapshot || xid >= keys->xmax)
		return false;
	for (i = 0; i < keys->nxip; i++)
		if (keys->xip[i] == xid)
			return false;
	return true;
}

uint64_t
message_xid_extend(uint64_t ref, uint32_t xid)
{
	int32_t		diff = (int32_t) (xid - (uint32_t) ref);

	if (diff < 0 && (uint64_t) (-(int64_t) diff) > ref)
		return xid;				/* before the first epoch: none */
	return ref + (int64_t) diff;
}

size_t
message_sign_parse_id(const char *p, size_t len, int64_t *id)
{
	size_t		i;
	int64_t		v = 0;

	for (i = 0; i < len && p[i] >= '0' && p[i] <= '9'; i++)
	{
		if (i >= MESSAGE_SIGN_ID_DIGITS || v > (INT64_MAX - (p[i] - '0')) / 10)
			return 0;
		v = v * 10 + (p[i] - '0');
	}
	if (i == 0 || i >= len || p[i] != '.' || p[0] == '0')
		return 0;
	*id = v;
	return i + 1;
}

void
message_sign_mac(const MessageKey *key, uint64_t xid, FrameBytes rest,
				 FrameBytes payload, char out[MESSAGE_SIGN_MAC_HEX + 1])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char be[8];
	unsigned char mac[SHA256_DIGEST];
	unsigned char nul = 0;
	HmacSha256	h;
	int			i;

	for (i = 0; i < 8; i++)
		be[i] = (unsigned char) (xid >> (56 - 8 * i));
	hmac_sha256_init(&h, key->key, key->len);
	hmac_sha256_update(&h, be, sizeof(be));
	hmac_sha256_update(&h, MESSAGE_PREFIX, strlen(MESSAGE_PREFIX));
	hmac_sha256_update(&h, rest.data, rest.len);
	hmac_sha256_update(&h, &nul, 1);
	hmac_sha256_update(&h, payload.data, payload.len);
	hmac_sha256_final(&h, mac);
	for (i = 0; i < SHA256_DIGEST; i++)
	{
		out[2 * i] = digits[mac[i] >> 4];
		out[2 * i + 1] = digits[mac[i] & 0x0f];
	}
	out[MESSAGE_SIGN_MAC_HEX] = '\0';
}

bool
message_sign_verify(const MessageKey *key, uint64_t xid, FrameBytes rest,
					FrameBytes payload, const char *mac)
{
	char		want[MESSAGE_SIGN_MAC_HEX + 1];
	unsigned char diff = 0;
	int			i;

	if (key == NULL || key->len == 0)
		return false;
	message_sign_mac(key, xid, rest, payload, want);
	for (i = 0; i < MESSAGE_SIGN_MAC_HEX; i++)
		diff |= (unsigned char) (want[i] ^ mac[i]);
	return diff == 0;
}
