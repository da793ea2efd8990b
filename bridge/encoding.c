/*-------------------------------------------------------------------------
 *
 * encoding.c
 *		Text in a database's encoding as UTF-8, as PostgreSQL converts it:
 *		tables for the single-byte encodings, iconv(3) one character at a
 *		time for the EUC ones, U+FFFD for what does not convert (see
 *		encoding.h).
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
#include "log.h"

typedef struct EncodingName
{
	const char *pg;				/* PostgreSQL's name (pg_encoding_to_char) */
	const char *iconv;			/* glibc iconv's */
	char		mb;				/* length rule: 'j' EUC (8E: 2, 8F: 3), 'c'
								 * EUC_CN (2), 't' EUC_TW (8E: 4, 8F: 3) */
} EncodingName;

/*
 * PostgreSQL's server encodings but MULE_INTERNAL: the single-byte ones
 * are converted with encoding_tables.c (mb 0), the others with iconv
 */
static const EncodingName names[] = {
	{"EUC_JP", "EUC-JP", 'j'},
	{"EUC_JIS_2004", "EUC-JISX0213", 'j'},
	{"EUC_CN", "EUC-CN", 'c'},
	{"EUC_KR", "EUC-KR", 'j'},
	{"EUC_TW", "EUC-TW", 't'},
	{"LATIN1", "ISO-8859-1", 0},
	{"LATIN2", "ISO-8859-2", 0},
	{"LATIN3", "ISO-8859-3", 0},
	{"LATIN4", "ISO-8859-4", 0},
	{"LATIN5", "ISO-8859-9", 0},
	{"LATIN6", "ISO-8859-10", 0},
	{"LATIN7", "ISO-8859-13", 0},
	{"LATIN8", "ISO-8859-14", 0},
	{"LATIN9", "ISO-8859-15", 0},
	{"LATIN10", "ISO-8859-16", 0},
	{"WIN1256", "CP1256", 0},
	{"WIN1258", "CP1258", 0},
	{"WIN866", "CP866", 0},
	{"WIN874", "CP874", 0},
	{"KOI8R", "KOI8-R", 0},
	{"WIN1251", "CP1251", 0},
	{"WIN1252", "CP1252", 0},
	{"ISO_8859_5", "ISO-8859-5", 0},
	{"ISO_8859_6", "ISO-8859-6", 0},
	{"ISO_8859_7", "ISO-8859-7", 0},
	{"ISO_8859_8", "ISO-8859-8", 0},
	{"WIN1250", "CP1250", 0},
	{"WIN1253", "CP1253", 0},
	{"WIN1254", "CP1254", 0},
	{"WIN1255", "CP1255", 0},
	{"WIN1257", "CP1257", 0},
	{"KOI8U", "KOI8-U", 0},
	{NULL, NULL, 0}
};

static const EncodingName *
find_name(const char *pg_encoding)
{
	for (const EncodingName *n = names; n->pg; n++)
		if (strcasecmp(n->pg, pg_encoding) == 0)
			return n;
	return NULL;
}

const char *
encoding_iconv_name(const char *pg_encoding)
{
	const EncodingName *n;

	if (pg_encoding == NULL)
		return NULL;
	if (strcasecmp(pg_encoding, "UTF8") == 0)
		return "UTF-8";
	n = find_name(pg_encoding);
	return n ? n->iconv : NULL;
}

bool
encoding_converts(const char *pg_encoding)
{
	return pg_encoding != NULL && strcasecmp(pg_encoding, "UTF8") != 0 &&
		strcasecmp(pg_encoding, "SQL_ASCII") != 0;
}

/* the generated overrides of one encoding: a sorted slice */
static void
find_overrides(EncodingConv *ec)
{
	const EncodingOverride *o = encoding_overrides;

	while (o->name && strcmp(o->name, ec->name) != 0)
		o++;
	ec->over = o;
	ec->nover = 0;
	while (o[ec->nover].name && strcmp(o[ec->nover].name, ec->name) == 0)
		ec->nover++;
}

int
encoding_open(EncodingConv *ec, const char *pg_encoding, char *err, size_t errlen)
{
	const EncodingName *n;

	memset(ec, 0, sizeof(*ec));
	ec->identity = true;
	ec->cd = (iconv_t) -1;
	snprintf(ec->name, sizeof(ec->name), "%s", pg_encoding ? pg_encoding : "UTF8");
	if (!encoding_converts(pg_encoding))
		return 0;
	for (const EncodingSingleByte *s = encoding_single_byte; s->name; s++)
		if (strcasecmp(s->name, pg_encoding) == 0)
		{
			snprintf(ec->name, sizeof(ec->name), "%s", s->name);
			ec->high = s->high;
			ec->identity = false;
			return 0;
		}
	if ((n = find_name(pg_encoding)) == NULL || n->mb == 0)
		return errbuf_set(err, errlen, -1,
						  "database encoding %s cannot be converted to UTF-8 by the bridge "
						  "(it converts UTF8, SQL_ASCII, the single-byte server encodings, EUC_JP, "
						  "EUC_JIS_2004, EUC_CN, EUC_KR and EUC_TW)", pg_encoding);
	ec->cd = iconv_open("UTF-8", n->iconv);
	if (ec->cd == (iconv_t) -1)
		return errbuf_set(err, errlen, -1,
						  "could not convert database encoding %s (iconv %s) to UTF-8: %s",
						  pg_encoding, n->iconv, strerror(errno));
	snprintf(ec->name, sizeof(ec->name), "%s", n->pg);
	ec->mb = n->mb;
	find_overrides(ec);
	ec->identity = false;
	return 0;
}

void
encoding_close(EncodingConv *ec)
{
	if (ec->cd != (iconv_t) -1)
		iconv_close(ec->cd);
	ec->cd = (iconv_t) -1;
	ec->high = NULL;
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

/* out grown to hold at least need more bytes after used */
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

/* the length of the character starting with byte c, by PostgreSQL's rules */
static size_t
char_len(const EncodingConv *ec, unsigned char c)
{
	if (c < 0x80 || ec->high != NULL)
		return 1;
	if (ec->mb == 't' && c == 0x8E)
		return 4;
	if (ec->mb != 'c' && c == 0x8F)
		return 3;
	return 2;
}

/* PostgreSQL's UTF-8 for a code glibc converts otherwise; NULL if none */
static const EncodingOverride *
find_override(const EncodingConv *ec, const unsigned char *s, size_t n)
{
	uint32_t	code = 0;
	size_t		lo = 0;
	size_t		hi = ec->nover;

	for (size_t i = 0; i < n; i++)
		code = code << 8 | s[i];
	while (lo < hi)
	{
		size_t		mid = (lo + hi) / 2;

		if (ec->over[mid].code == code)
			return &ec->over[mid];
		if (ec->over[mid].code < code)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* the UTF-8 of code point cp (BMP, not 0) at dst; its length */
static size_t
put_utf8(char *dst, unsigned int cp)
{
	if (cp < 0x80)
	{
		dst[0] = (char) cp;
		return 1;
	}
	if (cp < 0x800)
	{
		dst[0] = (char) (0xC0 | cp >> 6);
		dst[1] = (char) (0x80 | (cp & 0x3F));
		return 2;
	}
	dst[0] = (char) (0xE0 | cp >> 12);
	dst[1] = (char) (0x80 | (cp >> 6 & 0x3F));
	dst[2] = (char) (0x80 | (cp & 0x3F));
	return 3;
}

/*
 * EUC_TW's four-byte codes of CNS 11643 planes 3 to 16 (0x8E 0xA3..0xB0):
 * PostgreSQL stores them and its conversion refuses every one (its map has
 * planes 1 and 2 only), as the plugin does (U+FFFD); glibc's EUC-TW knows
 * planes 3 to 7 and must not be asked (attack 546).  A code of these planes
 * PostgreSQL converted would be an override (gen_encoding_tables.c applies
 * the same rule).
 */
static bool
refused_plane(const EncodingConv *ec, const unsigned char *s, size_t n)
{
	return ec->mb == 't' && n == 4 && s[0] == 0x8E && s[1] > 0xA2;
}

/*
 * One character s[0..n) (n > 0, not ASCII) at dst (room for 16 bytes):
 * the number of bytes written, 0 if it does not convert
 */
static size_t
convert_char(EncodingConv *ec, const unsigned char *s, size_t n, char *dst)
{
	const EncodingOverride *o;
	char	   *src = (char *) s;
	char	   *d = dst;
	size_t		left = n;
	size_t		room = 16;

	if (ec->high != NULL)
		return ec->high[s[0] - 0x80] ? put_utf8(dst, ec->high[s[0] - 0x80]) : 0;
	if (ec->nover > 0 && (o = find_override(ec, s, n)) != NULL)
	{
		if (o->utf8 == NULL)
			return 0;
		memcpy(dst, o->utf8, strlen(o->utf8));
		return strlen(o->utf8);
	}
	if (refused_plane(ec, s, n))
		return 0;
	/* alone, and flushed: a stateful decoder holds nothing back */
	iconv(ec->cd, NULL, NULL, NULL, NULL);
	if (iconv(ec->cd, &src, &left, &d, &room) == (size_t) -1 || left != 0 ||
		iconv(ec->cd, NULL, NULL, &d, &room) == (size_t) -1)
		return 0;
	return (size_t) (d - dst);
}

static void
note_unconvertible(EncodingConv *ec, const unsigned char *s, size_t n)
{
	if (ec->unconvertible++ == 0)
	{
		ec->badlen = n < sizeof(ec->bad) ? n : sizeof(ec->bad);
		memcpy(ec->bad, s, ec->badlen);
	}
}

char *
encoding_to_utf8(EncodingConv *ec, const char *in, size_t len, size_t *out_len)
{
	const unsigned char *s = (const unsigned char *) in;
	char	   *out = NULL;
	size_t		cap = 0;
	size_t		used = 0;
	size_t		i = 0;

	if (!reserve(&out, &cap, 0, ec->identity ? len : len * 2 + 16))
		return NULL;
	if (ec->identity || !encoding_has_high(in, len))
	{
		memcpy(out, in, len);
		out[len] = '\0';
		*out_len = len;
		return out;
	}
	while (i < len)
	{
		size_t		n = char_len(ec, s[i]);
		size_t		w;

		if (!reserve(&out, &cap, used, 16))
		{
			free(out);
			return NULL;
		}
		if (n == 1 && s[i] < 0x80)
		{
			out[used++] = (char) s[i++];
			continue;
		}
		if (i + n > len)
			n = len - i;		/* cut off at the end */
		w = n == char_len(ec, s[i]) ? convert_char(ec, s + i, n, out + used) : 0;
		if (w == 0)
		{
			note_unconvertible(ec, s + i, n);
			memcpy(out + used, ENCODING_REPLACEMENT, 3);
			w = 3;
		}
		used += w;
		i += n;
	}
	out[used] = '\0';
	*out_len = used;
	return out;
}

void
encoding_warn_unconvertible(EncodingConv *ec, const char *what, const char *name,
							size_t namelen)
{
	char		hex[sizeof(ec->bad) * 5 + 1];
	char	   *h = hex;

	if (ec->unconvertible == 0 || ec->warned)
		return;
	ec->warned = true;
	for (size_t i = 0; i < ec->badlen; i++)
		h += sprintf(h, "%s0x%02X", i ? " " : "", ec->bad[i]);
	if (namelen > 200)
	{
		namelen = 200;
		while (namelen > 0 && (name[namelen] & 0xC0) == 0x80)
			namelen--;			/* not in the middle of a character */
	}
	log_msg(LOG_WARNING, "%s \"%.*s\" holds a character of database encoding %s that PostgreSQL "
			"cannot convert to UTF-8 (bytes %s): delivered as U+FFFD (%llu such characters so far; "
			"warned once per session)", what, (int) namelen, name, ec->name, hex,
			(unsigned long long) ec->unconvertible);
}
