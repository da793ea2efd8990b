/*-------------------------------------------------------------------------
 *
 * pgoutput_reader.h
 *		Bounds-checked reader of one pgoutput message (network byte order),
 *		used by the pgoutput decoder (pgoutput.c).
 *
 * Every field is checked against what is left of the message before it is
 * read and strings must end inside it.  Errors name the message type and
 * the byte offset of the field ("pgoutput 'I' message at byte 9: value 3
 * runs past the end of the message") and return FRAME_MALFORMED.
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_PGOUTPUT_READER_H
#define W2Q_PGOUTPUT_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"

/* the message being read */
typedef struct PgoReader
{
	const unsigned char *p;
	size_t		len;
	size_t		pos;
	char		type;
	char	   *err;
	size_t		errlen;
} PgoReader;

/* "pgoutput 'I' message at byte 9: " and the rest; FRAME_MALFORMED */
extern int	rd_error(PgoReader *r, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));

/* FRAME_NOMEM, with "out of memory" in the error buffer */
extern int	rd_nomem(PgoReader *r);

/* are n more bytes there?  else the error "WHAT runs past the end ..." */
extern int	rd_need(PgoReader *r, size_t n, const char *what);

extern int	rd_u8(PgoReader *r, const char *what, uint8_t *out);
extern int	rd_u16(PgoReader *r, const char *what, uint16_t *out);
extern int	rd_u32(PgoReader *r, const char *what, uint32_t *out);
extern int	rd_u64(PgoReader *r, const char *what, uint64_t *out);

/* a zero-terminated string inside the message (out excludes the NUL) */
extern int	rd_cstr(PgoReader *r, const char *what, FrameBytes *out);

/* n bytes inside the message */
extern int	rd_bytes(PgoReader *r, uint32_t n, const char *what, FrameBytes *out);

/* the message must be read exactly: an error names the trailing bytes */
extern int	rd_end(PgoReader *r);

#endif							/* W2Q_PGOUTPUT_READER_H */
