/*-------------------------------------------------------------------------
 *
 * message_sign.c
 *		The key of send()'s signatures and their check (see
 *		message_sign.h).
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "errbuf.h"
#include "hex.h"
#include "message_sign.h"
#include "sha256.h"

#define MESSAGE_PREFIX	"wal2queue"

bool
message_key_from_hex(const char *v, MessageKey *key, char *err, size_t errlen)
{
	size_t		n = strlen(v);
	size_t		i;

	memset(key, 0, sizeof(*key));
	if (n % 2 != 0 || n / 2 < 32 || n / 2 > MESSAGE_SIGN_MAX_KEY)
	{
		errbuf_set(err, errlen, 0, "the key in wal2queue.message_key has %zu bytes, not 32 to %d",
				   n / 2, MESSAGE_SIGN_MAX_KEY);
		return false;
	}
	for (i = 0; i < n / 2; i++)
	{
		int			hi = hex_digit(v[2 * i]);
		int			lo = hex_digit(v[2 * i + 1]);

		if (hi < 0 || lo < 0)
		{
			memset(key, 0, sizeof(*key));
			errbuf_set(err, errlen, 0, "the key in wal2queue.message_key is not in hex");
			return false;
		}
		key->key[i] = (unsigned char) (hi << 4 | lo);
	}
	key->len = n / 2;
	key->state = MESSAGE_KEY_READ;
	return true;
}

void
message_sign_mac(const MessageKey *key, uint32_t xid, FrameBytes rest,
				 FrameBytes payload, char out[MESSAGE_SIGN_MAC_HEX + 1])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char be[8] = {0, 0, 0, 0,
		(unsigned char) (xid >> 24), (unsigned char) (xid >> 16),
	(unsigned char) (xid >> 8), (unsigned char) xid};
	unsigned char mac[SHA256_DIGEST];
	unsigned char nul = 0;
	HmacSha256	h;
	int			i;

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
message_sign_verify(const MessageKey *key, uint32_t xid, FrameBytes rest,
					FrameBytes payload, const char *mac)
{
	char		want[MESSAGE_SIGN_MAC_HEX + 1];
	unsigned char diff = 0;
	int			i;

	if (key == NULL || key->state != MESSAGE_KEY_READ || key->len == 0)
		return false;
	message_sign_mac(key, xid, rest, payload, want);
	for (i = 0; i < MESSAGE_SIGN_MAC_HEX; i++)
		diff |= (unsigned char) (want[i] ^ mac[i]);
	return diff == 0;
}
