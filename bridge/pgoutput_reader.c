/*-------------------------------------------------------------------------
 *
 * pgoutput_reader.c
 *		Bounds-checked reader of one pgoutput message (see
 *		pgoutput_reader.h).
 *
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "errbuf.h"
#include "pgoutput_reader.h"

int
rd_error(PgoReader *r, const char *fmt,...)
{
	char		msg[256];
	char		kind[8];
	va_list		ap;
	unsigned char t = (unsigned char) r->type;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (t > 0x20 && t < 0x7f && t != '\'' && t != '\\')
		snprintf(kind, sizeof(kind), "'%c'", (char) t);
	else
		snprintf(kind, sizeof(kind), "0x%02x", (unsigned int) t);
	return errbuf_set(r->err, r->errlen, FRAME_MALFORMED,
					  "pgoutput %s message at byte %zu: %s", kind, r->pos, msg);
}

int
rd_nomem(PgoReader *r)
{
	return errbuf_set(r->err, r->errlen, FRAME_NOMEM, "out of memory");
}

int
rd_need(PgoReader *r, size_t n, const char *what)
{
	if (r->len - r->pos >= n)
		return FRAME_OK;
	return rd_error(r, "%s runs past the end of the message", what);
}

int
rd_u8(PgoReader *r, const char *what, uint8_t *out)
{
	if (rd_need(r, 1, what) != FRAME_OK)
		return FRAME_MALFORMED;
	*out = r->p[r->pos++];
	return FRAME_OK;
}

int
rd_u16(PgoReader *r, const char *what, uint16_t *out)
{
	if (rd_need(r, 2, what) != FRAME_OK)
		return FRAME_MALFORMED;
	*out = (uint16_t) ((r->p[r->pos] << 8) | r->p[r->pos + 1]);
	r->pos += 2;
	return FRAME_OK;
}

int
rd_u32(PgoReader *r, const char *what, uint32_t *out)
{
	const unsigned char *b;

	if (rd_need(r, 4, what) != FRAME_OK)
		return FRAME_MALFORMED;
	b = r->p + r->pos;
	*out = ((uint32_t) b[0] << 24) | ((uint32_t) b[1] << 16) |
		((uint32_t) b[2] << 8) | (uint32_t) b[3];
	r->pos += 4;
	return FRAME_OK;
}

int
rd_u64(PgoReader *r, const char *what, uint64_t *out)
{
	uint32_t	hi;
	uint32_t	lo;

	if (rd_need(r, 8, what) != FRAME_OK)
		return FRAME_MALFORMED;
	(void) rd_u32(r, what, &hi);
	(void) rd_u32(r, what, &lo);
	*out = ((uint64_t) hi << 32) | lo;
	return FRAME_OK;
}

int
rd_cstr(PgoReader *r, const char *what, FrameBytes *out)
{
	const unsigned char *z;

	if (rd_need(r, 1, what) != FRAME_OK)
		return FRAME_MALFORMED;
	z = memchr(r->p + r->pos, '\0', r->len - r->pos);
	if (z == NULL)
		return rd_error(r, "%s is not terminated inside the message", what);
	out->data = (const char *) r->p + r->pos;
	out->len = (uint32_t) (z - (r->p + r->pos));
	r->pos += out->len + 1;
	return FRAME_OK;
}

int
rd_bytes(PgoReader *r, uint32_t n, const char *what, FrameBytes *out)
{
	if (rd_need(r, n, what) != FRAME_OK)
		return FRAME_MALFORMED;
	out->data = (const char *) r->p + r->pos;
	out->len = n;
	r->pos += n;
	return FRAME_OK;
}

int
rd_end(PgoReader *r)
{
	if (r->pos == r->len)
		return FRAME_OK;
	return rd_error(r, "%zu trailing bytes", r->len - r->pos);
}
