/*-------------------------------------------------------------------------
 *
 * test_frame.c
 *		Unit tests of the frame decoder: valid messages, transactions
 *		spanning messages, and every error it reports.
 *
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "frame_build.h"
#include "unit.h"

/* what the callbacks saw, as text */
typedef struct Rec
{
	char		log[8192];
	size_t		used;
	const char *lo;				/* the message being decoded */
	const char *hi;
	int			oob;			/* pointers outside the message */
	int			stop_at_job;	/* job callback returns 7 at this seq, or -1 */
	int			bad_njobs;		/* txn->njobs != seq + 1 in a job callback */
} Rec;

static void
rec_init(Rec *r)
{
	memset(r, 0, sizeof(*r));
	r->stop_at_job = -1;
}

static void
rec_printf(Rec *r, const char *fmt,...)
	__attribute__((format(printf, 2, 3)));

static void
rec_printf(Rec *r, const char *fmt,...)
{
	va_list		ap;
	int			n;

	if (r->used >= sizeof(r->log) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(r->log + r->used, sizeof(r->log) - r->used, fmt, ap);
	va_end(ap);
	if (n > 0)
		r->used += (size_t) n;
	if (r->used >= sizeof(r->log))
		r->used = sizeof(r->log) - 1;
}

/* append bytes, escaping what does not print, and check where they are */
static void
rec_bytes(Rec *r, FrameBytes b)
{
	uint32_t	i;

	if (b.len > 0 && (b.data < r->lo || b.data + b.len > r->hi))
		r->oob++;
	for (i = 0; i < b.len; i++)
	{
		unsigned char ch = (unsigned char) b.data[i];

		if (ch >= 0x20 && ch < 0x7f)
			rec_printf(r, "%c", ch);
		else
			rec_printf(r, "\\x%02x", ch);
	}
}

static int
on_begin(void *arg, const FrameTxn *txn)
{
	Rec		   *r = arg;
	char		a[20];
	char		b[20];

	rec_printf(r, "B %u %s %s %lld;", txn->xid,
			   frame_lsn_str(txn->commit_lsn, a, sizeof(a)),
			   frame_lsn_str(txn->end_lsn, b, sizeof(b)),
			   (long long) txn->commit_time_us);
	return 0;
}

static void
rec_row(Rec *r, const FrameJob *job)
{
	uint32_t	i;

	rec_printf(r, " rel=%u:", job->rel->relid);
	rec_bytes(r, job->rel->name);
	rec_printf(r, "(");
	for (i = 0; i < job->rel->ncols; i++)
	{
		rec_bytes(r, job->rel->cols[i].name);
		rec_printf(r, "/%c%s", job->rel->cols[i].kind,
				   i + 1 < job->rel->ncols ? "," : "");
	}
	rec_printf(r, ") [");
	for (i = 0; i < job->rel->ncols; i++)
	{
		if (job->values[i].isnull)
			rec_printf(r, "NULL");
		else
			rec_bytes(r, job->values[i].data);
		rec_printf(r, "%s", i + 1 < job->rel->ncols ? "|" : "");
	}
	rec_printf(r, "]");
}

static int
on_job(void *arg, const FrameTxn *txn, const FrameJob *job)
{
	Rec		   *r = arg;

	if (txn->njobs != job->seq + 1)
		r->bad_njobs++;
	rec_printf(r, "%c %u", job->is_message ? 'M' : 'I', job->seq);
	if (job->has_key)
	{
		rec_printf(r, " key=");
		rec_bytes(r, job->key);
	}
	rec_printf(r, " target=");
	rec_bytes(r, job->target);
	if (job->is_message)
	{
		rec_printf(r, " payload=");
		rec_bytes(r, job->payload);
	}
	else
		rec_row(r, job);
	rec_printf(r, ";");
	if ((int) job->seq == r->stop_at_job)
		return 7;
	return 0;
}

static int
on_commit(void *arg, const FrameTxn *txn)
{
	Rec		   *r = arg;

	rec_printf(r, "C %u %u;", txn->xid, txn->njobs);
	return 0;
}

static const FrameHandlers handlers = {on_begin, on_job, on_commit};

/* decode b with the recording handlers, from an exact-size copy */
static int
decode(FrameDecoder *dec, const FrameBuf *b, Rec *r, char *err, size_t errlen)
{
	char	   *copy = malloc(b->len ? b->len : 1);
	int			rc;

	if (b->len)
		memcpy(copy, b->data, b->len);
	r->lo = copy;
	r->hi = copy + b->len;
	rc = frame_decode(dec, copy, b->len, &handlers, r, err, errlen);
	free(copy);
	return rc;
}

/* decode b on a fresh decoder (after prelude, if any); expect an error */
static void
expect_error(const FrameBuf *prelude, const FrameBuf *b, const char *want,
			 const char *desc)
{
	FrameDecoder dec;
	Rec			r;
	char		err[256];
	int			rc;

	frame_decoder_init(&dec);
	rec_init(&r);
	if (prelude != NULL && prelude->len > 0 &&
		decode(&dec, prelude, &r, err, sizeof(err)) != FRAME_OK)
	{
		unit_check(false, "%s (prelude failed: %s)", desc, err);
		frame_decoder_free(&dec);
		return;
	}
	rc = decode(&dec, b, &r, err, sizeof(err));
	unit_check(rc == FRAME_MALFORMED, "%s: FRAME_MALFORMED", desc);
	unit_check_str(err, want, desc);
	frame_decoder_free(&dec);
}

static void
test_whole_message(void)
{
	FrameBuf	p;
	FrameBuf	m;
	FrameDecoder dec;
	Rec			r;
	char		err[256] = "x";
	int			rc;
	FrameRelation *rels;
	FrameColumn *cols;
	FrameValue *values;

	fb_init(&p);
	fb_init(&m);
	fb_sample(0, &p, &m);
	frame_decoder_init(&dec);
	rec_init(&r);
	rc = decode(&dec, &m, &r, err, sizeof(err));
	unit_check(rc == FRAME_OK, "whole transaction decodes");
	unit_check_str(err, "", "no error message on success");
	unit_check_str(r.log,
				   "B 750 0/16B3748 0/16B3778 1700000000123456;"
				   "I 0 key=42 target=public.jobs rel=16384:public.jobs"
				   "(id/n,queue/t,payload/j,done/b) [42|emails|{\"to\":\"a@b.c\"}|f];"
				   "I 1 target=emails rel=16384:public.jobs"
				   "(id/n,queue/t,payload/j,done/b) [43||NULL|NULL];"
				   "M 2 key=k#1 target=wal2queue payload=hello;"
				   "M 3 target=bin payload=a\\x00\\xffb;"
				   "C 750 4;",
				   "callbacks see every field");
	unit_check(r.oob == 0, "every pointer is into the message");
	unit_check(r.bad_njobs == 0, "txn->njobs counts the current job");
	unit_check(!dec.in_txn, "not in a transaction after the commit");

	rels = dec.rels;
	cols = dec.cols;
	values = dec.values;
	rec_init(&r);
	rc = decode(&dec, &m, &r, err, sizeof(err));
	unit_check(rc == FRAME_OK && dec.rels == rels && dec.cols == cols &&
			   dec.values == values,
			   "the same message again reuses the decoder's storage");

	frame_decoder_free(&dec);
	fb_free(&p);
	fb_free(&m);
}

/* first, middle and last message of one transaction */
static void
test_spanning(void)
{
	FrameBuf	p;
	FrameBuf	m;
	FrameBuf	last;
	FrameDecoder dec;
	Rec			r;
	char		err[256];
	int			rc;

	fb_init(&p);
	fb_init(&m);
	fb_init(&last);
	fb_sample(2, &p, &m);
	fb_magic(&last);
	fb_message(&last, 4, NULL, "t", "", 0);
	fb_commit(&last, 0xFFFFFFFF, 0xFFFFFFFF00000010ULL, 0xFFFFFFFF00000040ULL, 5);

	frame_decoder_init(&dec);
	rec_init(&r);
	rc = decode(&dec, &p, &r, err, sizeof(err));
	unit_check(rc == FRAME_OK && dec.in_txn,
			   "first message of a transaction leaves it open");
	rc = decode(&dec, &m, &r, err, sizeof(err));
	unit_check(rc == FRAME_OK && dec.in_txn, "middle message decodes");
	rc = decode(&dec, &last, &r, err, sizeof(err));
	unit_check(rc == FRAME_OK && !dec.in_txn, "last message commits");
	unit_check_str(r.log,
				   "B 4294967295 FFFFFFFF/10 FFFFFFFF/40 -5;"
				   "I 0 target=public.jobs rel=16384:public.jobs"
				   "(id/n,queue/t,payload/j,done/b) [1|q|[]|t];"
				   "I 1 key=k target=r rel=16384:public.jobs"
				   "(id/n,queue/t,payload/j,done/b) [2|q|null|NULL];"
				   "I 2 target=s.tiny rel=16400:s.tiny(x/t) [7];"
				   "I 3 target=s.tiny rel=16400:s.tiny(x/n) [7];"
				   "M 4 target=t payload=;"
				   "C 4294967295 5;",
				   "a transaction across three messages, latest R wins");

	/* relations do not outlive their message */
	frame_decoder_reset(&dec);
	fb_clear(&m);
	fb_magic(&m);
	fb_insert(&m, 16384, 1, NULL, NULL, 0, NULL);
	expect_error(&p, &m, "record 'I' at offset 4: unknown relation 16384",
				 "a relation from an earlier message is unknown");

	frame_decoder_free(&dec);
	fb_free(&p);
	fb_free(&m);
	fb_free(&last);
}

static void
test_empty_txn_and_stop(void)
{
	FrameBuf	p;
	FrameBuf	m;
	FrameDecoder dec;
	Rec			r;
	char		err[256];
	int			rc;

	fb_init(&p);
	fb_init(&m);
	fb_sample(5, &p, &m);
	frame_decoder_init(&dec);
	rec_init(&r);
	rc = decode(&dec, &m, &r, err, sizeof(err));
	unit_check(rc == FRAME_OK, "an empty transaction decodes");
	unit_check_str(r.log, "B 3 0/0 0/1 0;C 3 0;", "begin and commit of it");

	fb_sample(0, &p, &m);
	rec_init(&r);
	r.stop_at_job = 1;
	rc = decode(&dec, &m, &r, err, sizeof(err));
	unit_check(rc == 7, "a handler's return value stops decoding");
	unit_check(strstr(r.log, "M 2") == NULL && strstr(r.log, "C ") == NULL,
			   "nothing after the handler that stopped");

	frame_decoder_reset(&dec);
	rc = frame_decode(&dec, (const char *) m.data, m.len, NULL, NULL, NULL, 0);
	unit_check(rc == FRAME_OK, "no handlers and no error buffer are fine");
	frame_decoder_reset(&dec);
	rc = frame_decode(&dec, "W2Q\002", 4, NULL, NULL, NULL, 0);
	unit_check(rc == FRAME_MALFORMED, "an error without an error buffer");
	rc = frame_decode(&dec, "W2Q\002", 4, NULL, NULL, err, 12);
	unit_check_str(err, "unsupported",
				   "the message is cut to the buffer and terminated");

	frame_decoder_free(&dec);
	fb_free(&p);
	fb_free(&m);
}

/* many relations: column storage moves, relations must follow it */
static void
test_storage_growth(void)
{
	static const char *const names[] = {"a", "b", "c", "d", "e", "f", "g", "h"};
	const char *const vals[] = {"1", "2", "3", "4", "5", "6", "7", "8"};
	FrameBuf	m;
	FrameDecoder dec;
	Rec			r;
	char		err[256];
	char		want[128];
	char		name[32];
	uint32_t	i;
	int			rc;

	fb_init(&m);
	fb_magic(&m);
	fb_begin(&m, 1, 2, 3, 4);
	for (i = 0; i < 200; i++)
	{
		snprintf(name, sizeof(name), "s.t%u", i);
		fb_relation(&m, 1000 + i, name, 8, names, "nnnnnnnn");
	}
	fb_insert(&m, 1000, 0, NULL, NULL, 8, vals);
	fb_commit(&m, 1, 2, 3, 1);

	frame_decoder_init(&dec);
	rec_init(&r);
	rc = decode(&dec, &m, &r, err, sizeof(err));
	unit_check(rc == FRAME_OK && dec.nrels == 200 && dec.cols_used == 1600,
			   "200 relations of 8 columns in one message");
	snprintf(want, sizeof(want), "I 0 target=s.t0 rel=1000:s.t0(a/n,b/n,c/n,d/n,e/n,f/n,g/n,h/n) [1|2|3|4|5|6|7|8];");
	unit_check(strstr(r.log, want) != NULL,
			   "the first relation survives the storage growing");
	frame_decoder_free(&dec);
	fb_free(&m);
}

static void
test_max_columns(void)
{
	static const char *names[W2Q_MAX_COLUMNS + 1];
	static const char *vals[W2Q_MAX_COLUMNS + 1];
	static char kinds[W2Q_MAX_COLUMNS + 2];
	FrameBuf	m;
	FrameDecoder dec;
	Rec			r;
	char		err[256];
	int			i;
	int			rc;

	for (i = 0; i <= W2Q_MAX_COLUMNS; i++)
	{
		names[i] = "";
		vals[i] = (i % 2) ? NULL : "";
		kinds[i] = 't';
	}
	fb_init(&m);
	fb_magic(&m);
	fb_begin(&m, 1, 2, 3, 4);
	fb_relation(&m, 5, "s.t", W2Q_MAX_COLUMNS, names, kinds);
	fb_insert(&m, 5, 0, NULL, NULL, W2Q_MAX_COLUMNS, vals);
	frame_decoder_init(&dec);
	rec_init(&r);
	rc = decode(&dec, &m, &r, err, sizeof(err));
	unit_check(rc == FRAME_OK, "a relation of %d columns decodes",
			   W2Q_MAX_COLUMNS);
	frame_decoder_free(&dec);

	fb_clear(&m);
	fb_magic(&m);
	fb_begin(&m, 1, 2, 3, 4);
	fb_relation(&m, 5, "s.t", W2Q_MAX_COLUMNS + 1, names, kinds);
	expect_error(NULL, &m, "record 'R' at offset 34: relation has 1665 columns (max 1664)",
				 "one column too many");
	fb_free(&m);
}

static void
test_lsn_str(void)
{
	char		buf[20];
	char		small[5];

	unit_check_str(frame_lsn_str(0, buf, sizeof(buf)), "0/0", "lsn 0/0");
	unit_check_str(frame_lsn_str(0x16B3748, buf, sizeof(buf)), "0/16B3748",
				   "lsn in upper-case hex");
	unit_check_str(frame_lsn_str(0x1A00000002ULL, buf, sizeof(buf)), "1A/2",
				   "lsn halves without padding");
	unit_check_str(frame_lsn_str(UINT64_MAX, buf, sizeof(buf)),
				   "FFFFFFFF/FFFFFFFF", "largest lsn fits 18 bytes");
	unit_check_str(frame_lsn_str(UINT64_MAX, small, sizeof(small)), "FFFF",
				   "lsn cut to a small buffer");
}


/* a message that begins transaction 8 */
static void
txn_start(FrameBuf *m)
{
	fb_clear(m);
	fb_magic(m);
	fb_begin(m, 8, 0x100, 0x200, 0);
}

/* an R record of public.jobs (16384) with columns a n, b t */
static void
jobs_relation(FrameBuf *m)
{
	static const char *const names[] = {"a", "b"};

	fb_relation(m, 16384, "public.jobs", 2, names, "nt");
}

/* "record 'K' at offset N: problem" */
static const char *
at(char kind, size_t offset, const char *problem)
{
	static char buf[256];

	snprintf(buf, sizeof(buf), "record '%c' at offset %zu: %s",
			 kind, offset, problem);
	return buf;
}

static void
test_message_errors(void)
{
	FrameBuf	m;

	fb_init(&m);
	expect_error(NULL, &m, "empty message", "empty message");
	fb_raw(&m, "XYZ\001", 4);
	fb_begin(&m, 1, 2, 3, 4);
	expect_error(NULL, &m, "bad magic", "bad magic");
	fb_clear(&m);
	fb_raw(&m, "X", 1);
	expect_error(NULL, &m, "bad magic", "bad magic in a 1-byte message");
	fb_clear(&m);
	fb_raw(&m, "W2", 2);
	expect_error(NULL, &m, "truncated magic (2 of 4 bytes)", "truncated magic");
	fb_clear(&m);
	fb_magic_version(&m, 2);
	fb_begin(&m, 1, 2, 3, 4);
	expect_error(NULL, &m, "unsupported protocol version 2 (this bridge speaks 1)",
				 "protocol version 2");
	fb_clear(&m);
	fb_magic_version(&m, 0);
	expect_error(NULL, &m, "unsupported protocol version 0 (this bridge speaks 1)",
				 "protocol version 0");
	fb_clear(&m);
	fb_magic(&m);
	expect_error(NULL, &m, "message has no records", "magic alone");
	fb_u8(&m, 'I');
	fb_uv(&m, 99999);
	fb_raw(&m, "123456789012", 12);
	expect_error(NULL, &m, at('I', 4, "record length 99999 runs past the end of the message (12 bytes left)"),
				 "record length past the end");
	fb_clear(&m);
	fb_magic(&m);
	fb_u8(&m, 'B');
	expect_error(NULL, &m, at('B', 4, "record length runs past the end of the message"),
				 "message ends after the kind");
	fb_raw(&m, "\x80\x80\x80\x80\x80", 5);
	expect_error(NULL, &m, at('B', 4, "record length varint too long"),
				 "varint too long");
	fb_clear(&m);
	fb_magic(&m);
	fb_u8(&m, 'B');
	fb_raw(&m, "\xff\xff\xff\xff\x1f", 5);
	expect_error(NULL, &m, at('B', 4, "record length does not fit in 32 bits"),
				 "varint over 32 bits");
	fb_clear(&m);
	fb_magic(&m);
	fb_record_start(&m, 'Z');
	fb_record_end(&m);
	expect_error(NULL, &m, at('Z', 4, "unknown record kind"), "unknown kind 'Z'");
	fb_clear(&m);
	fb_magic(&m);
	fb_raw(&m, "\0\0", 2);
	expect_error(NULL, &m, "record 0x00 at offset 4: unknown record kind",
				 "unknown kind 0x00");
	fb_clear(&m);
	fb_magic(&m);
	fb_raw(&m, "'\0", 2);
	expect_error(NULL, &m, "record 0x27 at offset 4: unknown record kind",
				 "a quote as kind is shown in hex");
	fb_free(&m);
}

static void
test_state_errors(void)
{
	FrameBuf	p;
	FrameBuf	m;
	size_t		off;

	fb_init(&p);
	fb_init(&m);
	fb_magic(&m);
	fb_insert(&m, 1, 0, NULL, NULL, 0, NULL);
	expect_error(NULL, &m, at('I', 4, "'I' outside a transaction"), "'I' outside a transaction");
	fb_clear(&m);
	fb_magic(&m);
	jobs_relation(&m);
	expect_error(NULL, &m, at('R', 4, "'R' outside a transaction"), "'R' outside a transaction");
	fb_clear(&m);
	fb_magic(&m);
	fb_message(&m, 0, NULL, "t", "", 0);
	expect_error(NULL, &m, at('M', 4, "'M' outside a transaction"), "'M' outside a transaction");
	fb_clear(&m);
	fb_magic(&m);
	fb_commit(&m, 8, 0x100, 0x200, 0);
	expect_error(NULL, &m, at('C', 4, "'C' outside a transaction"), "'C' outside a transaction");

	txn_start(&p);
	fb_clear(&m);
	fb_magic(&m);
	fb_begin(&m, 9, 1, 2, 3);
	expect_error(&p, &m, at('B', 4, "'B' inside a transaction"),
				 "'B' inside a transaction from an earlier message");
	txn_start(&m);
	fb_begin(&m, 9, 1, 2, 3);
	expect_error(NULL, &m, at('B', 34, "'B' inside a transaction"),
				 "two begins in one message");

	txn_start(&m);
	fb_commit(&m, 8, 0x100, 0x200, 0);
	off = m.len;
	fb_begin(&m, 9, 1, 2, 3);
	expect_error(NULL, &m, at('B', off, "follows the commit in the same message"),
				 "a second transaction in one message");
	txn_start(&m);
	fb_commit(&m, 8, 0x100, 0x200, 0);
	off = m.len;
	jobs_relation(&m);
	expect_error(NULL, &m, at('R', off, "follows the commit in the same message"),
				 "a relation after the commit");
	fb_free(&p);
	fb_free(&m);
}

static void
test_commit_errors(void)
{
	FrameBuf	m;
	size_t		off;

	fb_init(&m);
	txn_start(&m);
	fb_commit(&m, 7, 0x100, 0x200, 0);
	expect_error(NULL, &m, at('C', 34, "commit xid 7 does not match begin xid 8"),
				 "commit xid mismatch");
	txn_start(&m);
	fb_commit(&m, 8, 0x101, 0x200, 0);
	expect_error(NULL, &m, at('C', 34, "commit lsn 0/101 does not match begin lsn 0/100"),
				 "commit lsn mismatch");
	txn_start(&m);
	fb_commit(&m, 8, 0x100, 0x1200000201ULL, 0);
	expect_error(NULL, &m, at('C', 34, "commit end lsn 12/201 does not match begin end lsn 0/200"),
				 "commit end lsn mismatch");
	txn_start(&m);
	fb_message(&m, 0, NULL, "t", "", 0);
	fb_message(&m, 1, NULL, "t", "", 0);
	off = m.len;
	fb_commit(&m, 8, 0x100, 0x200, 3);
	expect_error(NULL, &m, at('C', off, "commit says 3 jobs, saw 2"),
				 "commit job count mismatch");
	txn_start(&m);
	fb_message(&m, 0, NULL, "t", "", 0);
	fb_message(&m, 1, NULL, "t", "", 0);
	fb_message(&m, 2, NULL, "t", "", 0);
	off = m.len;
	fb_message(&m, 5, NULL, "t", "", 0);
	expect_error(NULL, &m, at('M', off, "seq 5 where 3 expected"), "seq gap");
	txn_start(&m);
	jobs_relation(&m);
	off = m.len;
	fb_insert(&m, 16384, 1, NULL, NULL, 2, (const char *const[]) {"1", "2"});
	expect_error(NULL, &m, at('I', off, "seq 1 where 0 expected"),
				 "first job with seq 1");
	fb_free(&m);
}

static void
test_relation_errors(void)
{
	FrameBuf	m;

	fb_init(&m);
	txn_start(&m);
	fb_record_start(&m, 'R');
	fb_u32(&m, 1);
	fb_str(&m, "s.t");
	fb_uv(&m, 2000);
	fb_record_end(&m);
	expect_error(NULL, &m, at('R', 34, "relation has 2000 columns (max 1664)"),
				 "too many columns");
	txn_start(&m);
	fb_record_start(&m, 'R');
	fb_u32(&m, 1);
	fb_str(&m, "s.t");
	fb_uv(&m, 10);
	fb_raw(&m, "\001an", 3);
	fb_record_end(&m);
	expect_error(NULL, &m, at('R', 34, "relation has 10 columns but the record has only 3 bytes left"),
				 "more columns than bytes");
	txn_start(&m);
	fb_relation(&m, 1, "s.t", 2, (const char *const[]) {"a", "b"}, "nx");
	expect_error(NULL, &m, at('R', 34, "bad column kind 'x' for column 1"),
				 "bad column kind");
	txn_start(&m);
	fb_relation(&m, 1, "s.t", 1, (const char *const[]) {"a"}, "\001");
	expect_error(NULL, &m, at('R', 34, "bad column kind 0x01 for column 0"),
				 "column kind that does not print");
	txn_start(&m);
	fb_record_start(&m, 'R');
	fb_u32(&m, 1);
	fb_str(&m, "s.t");
	fb_uv(&m, 2);
	fb_str(&m, "a");
	fb_u8(&m, 'n');
	fb_uv(&m, 9);
	fb_raw(&m, "b", 1);
	fb_record_end(&m);
	expect_error(NULL, &m, at('R', 34, "column 1 name runs past the end of the record"),
				 "column name past the end");
	txn_start(&m);
	fb_record_start(&m, 'R');
	fb_u32(&m, 1);
	fb_uv(&m, 3);
	fb_record_end(&m);
	expect_error(NULL, &m, at('R', 34, "relation name runs past the end of the record"),
				 "relation name past the end");
	fb_free(&m);
}

static void
test_job_errors(void)
{
	FrameBuf	m;
	size_t		off;

	fb_init(&m);
	txn_start(&m);
	jobs_relation(&m);
	off = m.len;
	fb_insert(&m, 16385, 0, NULL, NULL, 0, NULL);
	expect_error(NULL, &m, at('I', off, "unknown relation 16385"), "unknown relation");

	txn_start(&m);
	jobs_relation(&m);
	off = m.len;
	fb_record_start(&m, 'I');
	fb_u32(&m, 16384);
	fb_uv(&m, 0);
	fb_u8(&m, 0x04);
	fb_record_end(&m);
	expect_error(NULL, &m, at('I', off, "flags 0x04 unknown"), "unknown row flag");

	txn_start(&m);
	fb_record_start(&m, 'M');
	fb_uv(&m, 0);
	fb_u8(&m, 0x83);
	fb_record_end(&m);
	expect_error(NULL, &m, at('M', 34, "flags 0x82 unknown"),
				 "route flag on a message is unknown");

	txn_start(&m);
	jobs_relation(&m);
	off = m.len;
	fb_record_start(&m, 'I');
	fb_u32(&m, 16384);
	fb_uv(&m, 0);
	fb_u8(&m, 0);
	fb_uv(&m, 2);
	fb_raw(&m, "1", 1);
	fb_uv(&m, 10);
	fb_raw(&m, "abc", 3);
	fb_record_end(&m);
	expect_error(NULL, &m, at('I', off, "value 1 runs past the end of the record"),
				 "value past the end of the record");

	txn_start(&m);
	jobs_relation(&m);
	off = m.len;
	fb_record_start(&m, 'I');
	fb_u32(&m, 16384);
	fb_uv(&m, 0);
	fb_u8(&m, 0);
	fb_uv(&m, 0);
	fb_uv(&m, 0);
	fb_uv(&m, 0);
	fb_record_end(&m);
	expect_error(NULL, &m, at('I', off, "trailing bytes in record (1)"),
				 "a value too many");

	txn_start(&m);
	fb_record_start(&m, 'M');
	fb_uv(&m, 0);
	fb_u8(&m, 0x01);
	fb_uv(&m, 50);
	fb_raw(&m, "k", 1);
	fb_record_end(&m);
	expect_error(NULL, &m, at('M', 34, "key runs past the end of the record"),
				 "key past the end of the record");

	txn_start(&m);
	fb_record_start(&m, 'M');
	fb_raw(&m, "\x80\x80\x80\x80\x80\x00", 6);
	fb_record_end(&m);
	expect_error(NULL, &m, at('M', 34, "seq varint too long"), "seq varint too long");
	fb_free(&m);
}

static void
test_body_errors(void)
{
	FrameBuf	m;

	fb_init(&m);
	fb_magic(&m);
	fb_record_start(&m, 'B');
	fb_u32(&m, 1);
	fb_u32(&m, 2);
	fb_record_end(&m);
	expect_error(NULL, &m, at('B', 4, "commit_lsn runs past the end of the record"),
				 "begin record cut short");
	fb_clear(&m);
	fb_magic(&m);
	fb_record_start(&m, 'B');
	fb_u32(&m, 1);
	fb_u64(&m, 2);
	fb_u64(&m, 3);
	fb_u64(&m, 4);
	fb_u8(&m, 0);
	fb_record_end(&m);
	expect_error(NULL, &m, at('B', 4, "trailing bytes in record (1)"),
				 "trailing byte in a begin record");
	txn_start(&m);
	fb_record_start(&m, 'C');
	fb_u32(&m, 8);
	fb_u64(&m, 0x100);
	fb_u64(&m, 0x200);
	fb_uv(&m, 0);
	fb_raw(&m, "xyz", 3);
	fb_record_end(&m);
	expect_error(NULL, &m, at('C', 34, "trailing bytes in record (3)"),
				 "trailing bytes in a commit record");
	txn_start(&m);
	fb_record_start(&m, 'C');
	fb_u32(&m, 8);
	fb_u64(&m, 0x100);
	fb_u64(&m, 0x200);
	fb_record_end(&m);
	expect_error(NULL, &m, at('C', 34, "njobs runs past the end of the record"),
				 "commit without njobs");
	fb_free(&m);
}

/* padded varints, and decoding again after an error and a reset */
static void
test_recovery(void)
{
	FrameBuf	p;
	FrameBuf	m;
	FrameDecoder dec;
	Rec			r;
	char		err[256];
	int			rc;

	fb_init(&p);
	fb_init(&m);
	txn_start(&m);
	fb_record_start(&m, 'M');
	fb_raw(&m, "\x80\x80\x00", 3);	/* seq 0, padded */
	fb_u8(&m, 0);
	fb_str(&m, "t");
	fb_str(&m, "p");
	fb_record_end(&m);
	frame_decoder_init(&dec);
	rec_init(&r);
	rc = decode(&dec, &m, &r, err, sizeof(err));
	unit_check(rc == FRAME_OK, "a padded varint is accepted");

	fb_magic(&m);				/* garbage at the end */
	frame_decoder_reset(&dec);
	rc = decode(&dec, &m, &r, err, sizeof(err));
	unit_check(rc == FRAME_MALFORMED && dec.in_txn,
			   "an error in the middle of a transaction");
	frame_decoder_reset(&dec);
	unit_check(!dec.in_txn && dec.nrels == 0, "reset forgets the transaction");
	fb_sample(0, &p, &m);
	rec_init(&r);
	rc = decode(&dec, &m, &r, err, sizeof(err));
	unit_check(rc == FRAME_OK && r.oob == 0,
			   "a valid message decodes after the reset");
	frame_decoder_free(&dec);
	fb_free(&p);
	fb_free(&m);
}

static void
test_errors(void)
{
	test_message_errors();
	test_state_errors();
	test_commit_errors();
	test_relation_errors();
	test_job_errors();
	test_body_errors();
	test_recovery();
}

int
main(void)
{
	test_whole_message();
	test_spanning();
	test_empty_txn_and_stop();
	test_storage_growth();
	test_max_columns();
	test_lsn_str();
	test_errors();
	return unit_done();
}
