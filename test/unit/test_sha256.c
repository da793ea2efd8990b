/*-------------------------------------------------------------------------
 *
 * test_sha256.c
 *		bridge/sha256.c against the SHA-256 examples of FIPS 180-4 (NIST's
 *		"Cryptographic Algorithm Validation" examples) and the HMAC-SHA256
 *		test cases of RFC 4231.
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "sha256.h"
#include "unit.h"

static void
to_hex(const unsigned char *d, size_t n, char *out)
{
	size_t		i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
	out[2 * n] = '\0';
}

static size_t
from_hex(const char *hex, unsigned char *out)
{
	size_t		n = strlen(hex) / 2;
	size_t		i;

	for (i = 0; i < n; i++)
	{
		unsigned int b;

		sscanf(hex + 2 * i, "%2x", &b);
		out[i] = (unsigned char) b;
	}
	return n;
}

static void
check_sha(const void *data, size_t len, const char *want, const char *desc)
{
	unsigned char d[SHA256_DIGEST];
	char		hex[2 * SHA256_DIGEST + 1];

	sha256(data, len, d);
	to_hex(d, sizeof(d), hex);
	unit_check_str(hex, want, desc);
}

static void
test_fips(void)
{
	static const char m896[] = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
		"hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
	char	   *million = malloc(1000000);
	Sha256		s;
	unsigned char d[SHA256_DIGEST];
	char		hex[2 * SHA256_DIGEST + 1];
	size_t		i;

	check_sha("abc", 3,
			  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
			  "FIPS 180-4 one block: \"abc\"");
	check_sha("", 0,
			  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
			  "the empty message");
	check_sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
			  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
			  "FIPS 180-4 two blocks: 448 bits (padding needs a second block)");
	check_sha(m896, strlen(m896),
			  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
			  "896 bits");
	memset(million, 'a', 1000000);
	check_sha(million, 1000000,
			  "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
			  "one million 'a'");
	/* the same in uneven pieces: the buffering across calls */
	sha256_init(&s);
	for (i = 0; i < 1000000; i += 777)
		sha256_update(&s, million + i, 1000000 - i < 777 ? 1000000 - i : 777);
	sha256_final(&s, d);
	to_hex(d, sizeof(d), hex);
	unit_check_str(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
				   "one million 'a' in pieces of 777 bytes");
	free(million);
}

/* RFC 4231 section 4: key, data (hex), HMAC-SHA256, bytes compared */
static const struct
{
	const char *key;
	const char *data;
	const char *mac;
	size_t		nbytes;
}			rfc4231[] = {
	{"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "4869205468657265",
	"b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", 32},
	{"4a656665", "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
	"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", 32},
	{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
		"dddddddddddddddddddddddd",
	"773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe", 32},
	{"0102030405060708090a0b0c0d0e0f10111213141516171819",
		"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
		"cdcdcdcdcdcdcdcdcdcdcdcd",
	"82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b", 32},
	{"0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c", "546573742057697468205472756e636174696f6e",
	"a3b6167473100ee06e0c796c2955552b", 16},
	{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"54657374205573696e67204c6172676572205468616e20426c6f636b2d53697a65204b6579"
		"202d2048617368204b6579204669727374",
	"60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", 32},
	{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"5468697320697320612074657374207573696e672061206c6172676572207468616e20626c"
		"6f636b2d73697a65206b657920616e642061206c6172676572207468616e20626c6f636b2d"
		"73697a6520646174612e20546865206b6579206e6565647320746f20626520686173686564"
		"206265666f7265206265696e6720757365642062792074686520484d414320616c676f7269"
		"74686d2e",
	"9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2", 32},
};

static void
test_rfc4231(void)
{
	size_t		i;

	for (i = 0; i < sizeof(rfc4231) / sizeof(rfc4231[0]); i++)
	{
		unsigned char key[256];
		unsigned char data[256];
		unsigned char mac[SHA256_DIGEST];
		char		hex[2 * SHA256_DIGEST + 1];
		size_t		kl = from_hex(rfc4231[i].key, key);
		size_t		dl = from_hex(rfc4231[i].data, data);
		HmacSha256	h;

		hmac_sha256_init(&h, key, kl);
		/* in two pieces: the update of the inner hash */
		hmac_sha256_update(&h, data, dl / 2);
		hmac_sha256_update(&h, data + dl / 2, dl - dl / 2);
		hmac_sha256_final(&h, mac);
		to_hex(mac, rfc4231[i].nbytes, hex);
		unit_check(strcmp(hex, rfc4231[i].mac) == 0,
				   "RFC 4231 test case %zu: %s", i + 1, hex);
	}
}

int
main(void)
{
	test_fips();
	test_rfc4231();
	return unit_done();
}
