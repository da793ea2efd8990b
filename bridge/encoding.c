/*-------------------------------------------------------------------------
 *
 * encoding.c
 *		Text in a database's encoding as UTF-8 with iconv(3), U+FFFD for
 *		what does not convert (see encoding.h).
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "encoding.h"
#include "errbuf.h"

typedef struct EncodingName
{
	const char *pg;				/* PostgreSQL's name (pg_encoding_to_char) */
	const char *iconv;			/* glibc iconv's */
} EncodingName;

/* PostgreSQL's server encodings (and a few client ones) */
static const EncodingName names[] = {
	{"UTF8", "UTF-8"},
	{"EUC_JP", "EUC-JP"},
	{"EUC_CN", "EUC-CN"},
	{"EUC_KR", "EUC-KR"},
	{"EUC_TW", "EUC-TW"},
	{"EUC_JIS_2004", "EUC-JISX0213"},
	{"LATIN1", "ISO-8859-1"},
	{"LATIN2", "ISO-8859-2"},
	{"LATIN3", "ISO-8859-3"},
	{"LATIN4", "ISO-8859-4"},
	{"LATIN5", "ISO-8859-9"},
	{"LATIN6", "ISO-8859-10"},
	{"LATIN7", "ISO-8859-13"},
	{"LATIN8", "ISO-8859-14"},
	{"LATIN9", "ISO-8859-15"},
	{"LATIN10", "ISO-8859-16"},
	{"WIN1256", "CP1256"},
	{"WIN1258", "CP1258"},
	{"WIN866", "CP866"},
	{"WIN874", "CP874"},
	{"KOI8R", "KOI8-R"},
	{"WIN1251", "CP1251"},
	{"WIN1252", "CP1252"},
	{"ISO_8859_5", "ISO-8859-5"},
	{"ISO_8859_6", "ISO-8859-6"},
	{"ISO_8859_7", "ISO-8859-7"},
	{"ISO_8859_8", "ISO-8859-8"},
	{"WIN1250", "CP1250"},
	{"WIN1253", "CP1253"},
	{"WIN1254", "CP1254"},
	{"WIN1255", "CP1255"},
	{"WIN1257", "CP1257"},
	{"KOI8U", "KOI8-U"},
	{"SJIS", "SHIFT_JIS"},
	{"BIG5", "BIG5"},
	{"GBK", "GBK"},
	{"UHC", "CP949"},
	{"GB18030", "GB18030"},
	{"JOHAB", "JOHAB"},
	{"SHIFT_JIS_2004", "SHIFT_JISX0213"},
	{NULL, NULL}
};

const char *
encoding_iconv_name(const char *pg_encoding)
{
	const EncodingName *n;

	if (pg_encoding == NULL)
		return NULL;
	for (n = names; n->pg; n++)
		if (strcasecmp(n->pg, pg_encoding) == 0)
			return n->iconv;
	return NULL;
}

bool
encoding_converts(const char *pg_encoding)
{
	return pg_encoding != NULL && strcasecmp(pg_encoding, "UTF8") != 0 &&
		strcasecmp(pg_encoding, "SQL_ASCII") != 0;
}

int
encoding_open(EncodingConv *ec, const char *pg_encoding, char *err, size_t errlen)
{
	const char *name = encoding_iconv_name(pg_encoding);

	memset(ec, 0, sizeof(*ec));
	ec->identity = true;
	ec->cd = (iconv_t) -1;
	snprintf(ec->name, sizeof(ec->name), "%s", pg_encoding ? pg_encoding : "UTF8");
	if (!encoding_converts(pg_encoding))
		return 0;
	if (name == NULL)
		return errbuf_set(err, errlen, -1,
						  "database encoding %s cannot be converted to UTF-8 by the bridge",
						  pg_encoding);
	ec->cd = iconv_open("UTF-8", name);
	if (ec->cd == (iconv_t) -1)
		return errbuf_set(err, errlen, -1,
						  "could not convert database encoding %s (iconv %s) to UTF-8: %s",
						  pg_encoding, name, strerror(errno));
	ec->identity = false;
	return 0;
}

void
encoding_close(EncodingConv *ec)
{
	if (!ec->identity && ec->cd != (iconv_t) -1)
		iconv_close(ec->cd);
	ec->cd = (iconv_t) -1;
	ec->identity = true;
}

bool
encoding_has_high(const char *in, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char) in[i] >= 0x80)
			return true;
	return false;
}

/* out grown to hold at least need more bytes after *used */
static bool
reserve(char **out, size_t *cap, size_t used, size_t need)
{
	char	   *p;
	size_t		c = *cap;

	if (used + need + 1 <= c)
		return true;
	while (c < used + need + 1)
		c = c ? c * 2 : 64;
	if ((p = realloc(*out, c)) == NULL)
		return false;
	*out = p;
	*cap = c;
	return true;
}

char *
encoding_to_utf8(EncodingConv *ec, const char *in, size_t len, size_t *out_len)
{
	char	   *out = NULL;
	size_t		cap = 0;
	size_t		used = 0;
	char	   *src = (char *) in;
	size_t		left = len;

	if (ec->identity || !encoding_has_high(in, len))
	{
		if (!reserve(&out, &cap, 0, len))
			return NULL;
		memcpy(out, in, len);
		out[len] = '\0';
		*out_len = len;
		return out;
	}
	iconv(ec->cd, NULL, NULL, NULL, NULL);
	if (!reserve(&out, &cap, 0, len * 2 + 16))
		return NULL;
	while (left > 0)
	{
		char	   *dst = out + used;
		size_t		room = cap - used - 1;
		size_t		rc = iconv(ec->cd, &src, &left, &dst, &room);

		used = (size_t) (dst - out);
		if (rc != (size_t) -1)
			break;
		if (errno == E2BIG)
		{
			if (!reserve(&out, &cap, used, left * 4 + 16))
				goto nomem;
			continue;
		}
		/* EILSEQ: no equivalent, skip a byte; EINVAL: cut off at the end */
		if (!reserve(&out, &cap, used, 3))
			goto nomem;
		memcpy(out + used, ENCODING_REPLACEMENT, 3);
		used += 3;
		if (errno == EINVAL)
			break;
		src++;
		left--;
	}
	out[used] = '\0';
	*out_len = used;
	return out;

nomem:
	free(out);
	return NULL;
}
