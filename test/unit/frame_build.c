/*-------------------------------------------------------------------------
 *
 * frame_build.c
 *		Builds wal2queue binary messages (plugin/FORMAT.md) for tests and
 *		for a fuzz corpus.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame_build.h"

#define LEN_PLACEHOLDER 5

void
fb_init(FrameBuf *b)
{
	memset(b, 0, sizeof(*b));
}

void
fb_free(FrameBuf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

void
fb_clear(FrameBuf *b)
{
	b->len = 0;
	b->rec_open = 0;
}

void
fb_raw(FrameBuf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap)
	{
		size_t		cap = b->cap ? b->cap : 256;

		while (cap < b->len + n)
			cap *= 2;
		b->data = realloc(b->data, cap);
		if (b->data == NULL)
		{
			fprintf(stderr, "frame_build: out of memory\n");
			abort();
		}
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
}

void
fb_u8(FrameBuf *b, uint8_t v)
{
	fb_raw(b, &v, 1);
}

void
fb_u32(FrameBuf *b, uint32_t v)
{
	unsigned char x[4];

	x[0] = (unsigned char) (v >> 24);
	x[1] = (unsigned char) (v >> 16);
	x[2] = (unsigned char) (v >> 8);
	x[3] = (unsigned char) v;
	fb_raw(b, x, 4);
}

void
fb_u64(FrameBuf *b, uint64_t v)
{
	fb_u32(b, (uint32_t) (v >> 32));
	fb_u32(b, (uint32_t) v);
}

void
fb_uv(FrameBuf *b, uint64_t v)
{
	while (v >= 0x80)
	{
		fb_u8(b, (uint8_t) ((v & 0x7F) | 0x80));
		v >>= 7;
	}
	fb_u8(b, (uint8_t) v);
}

void
fb_bytes(FrameBuf *b, const void *p, size_t n)
{
	fb_uv(b, n);
	fb_raw(b, p, n);
}

void
fb_str(FrameBuf *b, const char *s)
{
	fb_bytes(b, s, strlen(s));
}

void
fb_magic_version(FrameBuf *b, uint8_t version)
{
	fb_raw(b, "W2Q", 3);
	fb_u8(b, version);
}

void
fb_magic(FrameBuf *b)
{
	fb_magic_version(b, 1);
}

void
fb_record_start(FrameBuf *b, char kind)
{
	static const unsigned char zero[LEN_PLACEHOLDER];

	fb_u8(b, (uint8_t) kind);
	b->rec_at = b->len;
	b->rec_open = 1;
	fb_raw(b, zero, LEN_PLACEHOLDER);
}

/* write the shortest length varint and move the body down to it */
void
fb_record_end(FrameBuf *b)
{
	size_t		body = b->rec_at + LEN_PLACEHOLDER;
	size_t		blen = b->len - body;
	uint64_t	v = blen;
	size_t		n = 0;

	while (v >= 0x80)
	{
		b->data[b->rec_at + n++] = (unsigned char) ((v & 0x7F) | 0x80);
		v >>= 7;
	}
	b->data[b->rec_at + n++] = (unsigned char) v;
	memmove(b->data + b->rec_at + n, b->data + body, blen);
	b->len -= LEN_PLACEHOLDER - n;
	b->rec_open = 0;
}

void
fb_begin(FrameBuf *b, uint32_t xid, uint64_t commit_lsn, uint64_t end_lsn,
		 int64_t commit_time_us)
{
	fb_record_start(b, 'B');
	fb_u32(b, xid);
	fb_u64(b, commit_lsn);
	fb_u64(b, end_lsn);
	fb_u64(b, (uint64_t) commit_time_us);
	fb_record_end(b);
}

void
fb_commit(FrameBuf *b, uint32_t xid, uint64_t commit_lsn, uint64_t end_lsn,
		  uint32_t njobs)
{
	fb_record_start(b, 'C');
	fb_u32(b, xid);
	fb_u64(b, commit_lsn);
	fb_u64(b, end_lsn);
	fb_uv(b, njobs);
	fb_record_end(b);
}

void
fb_relation(FrameBuf *b, uint32_t relid, const char *name, uint32_t ncols,
			const char *const *names, const char *kinds)
{
	uint32_t	i;

	fb_record_start(b, 'R');
	fb_u32(b, relid);
	fb_str(b, name);
	fb_uv(b, ncols);
	for (i = 0; i < ncols; i++)
	{
		fb_str(b, names[i]);
		fb_u8(b, (uint8_t) kinds[i]);
	}
	fb_record_end(b);
}

void
fb_insert(FrameBuf *b, uint32_t relid, uint32_t seq, const char *key,
		  const char *target, uint32_t ncols, const char *const *values)
{
	uint32_t	i;

	fb_record_start(b, 'I');
	fb_u32(b, relid);
	fb_uv(b, seq);
	fb_u8(b, (uint8_t) ((key ? 0x01 : 0) | (target ? 0x02 : 0)));
	if (key)
		fb_str(b, key);
	if (target)
		fb_str(b, target);
	for (i = 0; i < ncols; i++)
	{
		if (values[i] == NULL)
			fb_uv(b, 0);
		else
		{
			size_t		n = strlen(values[i]);

			fb_uv(b, (uint64_t) n + 1);
			fb_raw(b, values[i], n);
		}
	}
	fb_record_end(b);
}

void
fb_message(FrameBuf *b, uint32_t seq, const char *key, const char *target,
		   const void *payload, size_t len)
{
	fb_record_start(b, 'M');
	fb_uv(b, seq);
	fb_u8(b, key ? 0x01 : 0);
	if (key)
		fb_str(b, key);
	fb_str(b, target);
	fb_bytes(b, payload, len);
	fb_record_end(b);
}

/* the samples' tables */
static const char *const jobs_cols[] = {"id", "queue", "payload", "done"};
static const char jobs_kinds[] = "ntjb";
static const char *const tiny_cols[] = {"x"};

#define JOBS_RELID 16384
#define TINY_RELID 16400
#define WIDE_NCOLS 130

/* a whole transaction: rows with and without key, route and NULLs, messages */
static void
sample_whole(FrameBuf *m)
{
	const char *const v1[] = {"42", "emails", "{\"to\":\"a@b.c\"}", "f"};
	const char *const v2[] = {"43", "", NULL, NULL};
	static const char bin[] = {'a', '\0', '\xff', 'b'};

	fb_magic(m);
	fb_begin(m, 750, 0x16B3748, 0x16B3778, 1700000000123456LL);
	fb_relation(m, JOBS_RELID, "public.jobs", 4, jobs_cols, jobs_kinds);
	fb_insert(m, JOBS_RELID, 0, "42", NULL, 4, v1);
	fb_insert(m, JOBS_RELID, 1, NULL, "emails", 4, v2);
	fb_message(m, 2, "k#1", "wal2queue", "hello", 5);
	fb_message(m, 3, NULL, "bin", bin, sizeof(bin));
	fb_commit(m, 750, 0x16B3748, 0x16B3778, 4);
}

/* the first message of a transaction spanning three */
static void
sample_first(FrameBuf *m)
{
	const char *const v[] = {"1", "q", "[]", "t"};

	fb_magic(m);
	fb_begin(m, 0xFFFFFFFF, 0xFFFFFFFF00000010ULL, 0xFFFFFFFF00000040ULL, -5);
	fb_relation(m, JOBS_RELID, "public.jobs", 4, jobs_cols, jobs_kinds);
	fb_insert(m, JOBS_RELID, 0, NULL, NULL, 4, v);
}

/* its middle message: relations repeated, no begin or commit */
static void
sample_middle(FrameBuf *m)
{
	const char *const v[] = {"2", "q", "null", NULL};
	const char *const t[] = {"7"};

	fb_magic(m);
	fb_relation(m, TINY_RELID, "s.tiny", 1, tiny_cols, "t");
	fb_relation(m, JOBS_RELID, "public.jobs", 4, jobs_cols, jobs_kinds);
	fb_insert(m, JOBS_RELID, 1, "k", "r", 4, v);
	fb_insert(m, TINY_RELID, 2, NULL, NULL, 1, t);
	fb_relation(m, TINY_RELID, "s.tiny", 1, tiny_cols, "n");
	fb_insert(m, TINY_RELID, 3, NULL, NULL, 1, t);
}

/* the last message of the same transaction, after the first */
static void
sample_last(FrameBuf *m)
{
	fb_magic(m);
	fb_relation(m, TINY_RELID, "s.tiny", 0, NULL, "");
	fb_insert(m, TINY_RELID, 1, NULL, NULL, 0, NULL);
	fb_message(m, 2, NULL, "", "", 0);
	fb_commit(m, 0xFFFFFFFF, 0xFFFFFFFF00000010ULL, 0xFFFFFFFF00000040ULL, 3);
}

/* multi-byte varints everywhere: a wide relation, long values, high seq */
static void
sample_wide(FrameBuf *m)
{
	static char names[WIDE_NCOLS][8];
	const char *np[WIDE_NCOLS];
	const char *vp[WIDE_NCOLS];
	char		kinds[WIDE_NCOLS];
	char		longval[140];
	int			i;

	memset(longval, 'v', sizeof(longval) - 1);
	longval[sizeof(longval) - 1] = '\0';
	for (i = 0; i < WIDE_NCOLS; i++)
	{
		snprintf(names[i], sizeof(names[i]), "c%d", i);
		np[i] = names[i];
		kinds[i] = "nbjt"[i % 4];
		vp[i] = (i % 3 == 0) ? NULL : (i % 3 == 1) ? longval : "1";
	}
	fb_magic(m);
	fb_relation(m, 1, "public.wide", WIDE_NCOLS, np, kinds);
	for (i = 0; i < 3; i++)
		fb_insert(m, 1, 200 + i, longval, NULL, WIDE_NCOLS, vp);
	fb_commit(m, 9, 100, 200, 203);
}

/* the prelude of sample_wide: 200 messages in one message */
static void
wide_prelude(FrameBuf *p)
{
	int			i;

	fb_magic(p);
	fb_begin(p, 9, 100, 200, 0);
	for (i = 0; i < 200; i++)
		fb_message(p, i, NULL, "t", "x", 1);
}

int
fb_sample_count(void)
{
	return 6;
}

void
fb_sample(int i, FrameBuf *prelude, FrameBuf *msg)
{
	fb_clear(prelude);
	fb_clear(msg);
	switch (i)
	{
		case 0:
			sample_whole(msg);
			break;
		case 1:
			sample_first(msg);
			break;
		case 2:
			sample_first(prelude);
			sample_middle(msg);
			break;
		case 3:
			sample_first(prelude);
			sample_last(msg);
			break;
		case 4:
			wide_prelude(prelude);
			sample_wide(msg);
			break;
		default:
			/* an empty transaction */
			fb_magic(msg);
			fb_begin(msg, 3, 0, 1, 0);
			fb_commit(msg, 3, 0, 1, 0);
			break;
	}
}
