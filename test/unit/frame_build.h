/*-------------------------------------------------------------------------
 *
 * frame_build.h
 *		Builds wal2queue binary messages (plugin/FORMAT.md) for tests and
 *		for a fuzz corpus.
 *
 * The record helpers write valid records; the primitives (fb_u8, fb_uv,
 * ...) and fb_record_start/fb_record_end let a test write any record,
 * valid or not.  Out of memory aborts: this is test code.
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_FRAME_BUILD_H
#define W2Q_FRAME_BUILD_H

#include <stddef.h>
#include <stdint.h>

typedef struct FrameBuf
{
	unsigned char *data;
	size_t		len;
	size_t		cap;
	size_t		rec_at;			/* length placeholder of the open record */
	int			rec_open;
} FrameBuf;

extern void fb_init(FrameBuf *b);
extern void fb_free(FrameBuf *b);
extern void fb_clear(FrameBuf *b);

/* primitives */
extern void fb_raw(FrameBuf *b, const void *p, size_t n);
extern void fb_u8(FrameBuf *b, uint8_t v);
extern void fb_u32(FrameBuf *b, uint32_t v);
extern void fb_u64(FrameBuf *b, uint64_t v);
extern void fb_uv(FrameBuf *b, uint64_t v);
extern void fb_bytes(FrameBuf *b, const void *p, size_t n);
extern void fb_str(FrameBuf *b, const char *s);

/* 'W' '2' 'Q' and the version byte */
extern void fb_magic_version(FrameBuf *b, uint8_t version);
extern void fb_magic(FrameBuf *b);

/* a record: kind, then its body, then fb_record_end writes the length */
extern void fb_record_start(FrameBuf *b, char kind);
extern void fb_record_end(FrameBuf *b);

/* whole, valid records */
extern void fb_begin(FrameBuf *b, uint32_t xid, uint64_t commit_lsn,
					 uint64_t end_lsn, int64_t commit_time_us);
extern void fb_commit(FrameBuf *b, uint32_t xid, uint64_t commit_lsn,
					  uint64_t end_lsn, uint32_t njobs);
/* kinds: one W2Q_KIND_* character per column */
extern void fb_relation(FrameBuf *b, uint32_t relid, const char *name,
						uint32_t ncols, const char *const *names,
						const char *kinds);
/* key, target: NULL when absent; values[i] NULL for SQL NULL */
extern void fb_insert(FrameBuf *b, uint32_t relid, uint32_t seq,
					  const char *key, const char *target,
					  uint32_t ncols, const char *const *values);
extern void fb_message(FrameBuf *b, uint32_t seq, const char *key,
					   const char *target, const void *payload, size_t len);

/*
 * A set of valid sample messages.  Sample i is msg, to be decoded after
 * prelude (empty, or the earlier messages of the same transaction) on a
 * fresh decoder.
 */
extern int	fb_sample_count(void);
extern void fb_sample(int i, FrameBuf *prelude, FrameBuf *msg);

#endif							/* W2Q_FRAME_BUILD_H */
