/*-------------------------------------------------------------------------
 *
 * test_frame_corpus.c
 *		Malformed-frame corpus: the sample messages of frame_build.c cut at
 *		every length, with every byte corrupted, with bad lengths, versions
 *		and kinds, and pseudo-random garbage (fixed seed), all through one
 *		decoder.  Every input must give FRAME_OK or a clean FRAME_MALFORMED
 *		(a non-empty lower-case message without trailing period), never a
 *		read outside the message (run it with SANITIZE=1), and every pointer
 *		handed to a callback must point into the message.
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "frame_build.h"
#include "unit.h"

/* what went wrong over a batch of inputs */
typedef struct Tally
{
	long		inputs;
	long		ok;
	long		malformed;
	long		bad;			/* another return code, or a bad message */
	long		oob;			/* a callback pointer outside the message */
	long		unexpected;		/* not the result the test expected */
	char		first_bad[300];
} Tally;

typedef struct Bounds
{
	const char *lo;
	const char *hi;
	long		oob;
} Bounds;

static FrameDecoder dec;

static void
check_bytes(Bounds *b, FrameBytes x)
{
	if (x.len > 0 && (x.data < b->lo || x.data > b->hi || x.len > (size_t) (b->hi - x.data)))
		b->oob++;
}

static int
on_begin(void *arg, const FrameTxn *txn)
{
	(void) arg;
	(void) txn;
	return 0;
}

static int
on_job(void *arg, const FrameTxn *txn, const FrameJob *job)
{
	Bounds	   *b = arg;
	uint32_t	i;

	(void) txn;
	check_bytes(b, job->target);
	if (job->has_key)
		check_bytes(b, job->key);
	if (job->is_message)
		check_bytes(b, job->payload);
	else
	{
		check_bytes(b, job->rel->name);
		for (i = 0; i < job->rel->ncols; i++)
		{
			check_bytes(b, job->rel->cols[i].name);
			if (!job->values[i].isnull)
				check_bytes(b, job->values[i].data);
		}
	}
	return 0;
}

static int
on_commit(void *arg, const FrameTxn *txn)
{
	(void) arg;
	(void) txn;
	return 0;
}

static const FrameHandlers handlers = {on_begin, on_job, on_commit};

/* a clean error message: non-empty, lower-case start, no trailing period */
static bool
clean_message(const char *err, size_t errlen)
{
	size_t		n = strnlen(err, errlen);

	return n > 0 && n < errlen && !isupper((unsigned char) err[0]) &&
		err[n - 1] != '.' && err[n - 1] != '\n';
}

/*
 * Decode len bytes of msg from an exact-size heap copy, so that any read
 * past the end is caught by AddressSanitizer.  want: FRAME_OK,
 * FRAME_MALFORMED, or 1 for either.  The decoder is reset after an error
 * (and, when reset_after is set, always).
 */
static int
run(Tally *t, const unsigned char *msg, size_t len, int want,
	const char *what)
{
	char	   *copy = malloc(len ? len : 1);
	char		err[256];
	Bounds		b;
	int			rc;

	if (len)
		memcpy(copy, msg, len);
	b.lo = copy;
	b.hi = copy + len;
	b.oob = 0;
	memset(err, 'x', sizeof(err));
	rc = frame_decode(&dec, copy, len, &handlers, &b, err, sizeof(err));
	t->inputs++;
	if (rc == FRAME_OK)
		t->ok++;
	else if (rc == FRAME_MALFORMED && clean_message(err, sizeof(err)))
		t->malformed++;
	else
	{
		t->bad++;
		if (t->first_bad[0] == '\0')
			snprintf(t->first_bad, sizeof(t->first_bad),
					 "%s: rc %d, message \"%.200s\"", what, rc,
					 rc == FRAME_MALFORMED ? err : "");
	}
	if (rc == FRAME_OK && strnlen(err, sizeof(err)) != 0)
		t->bad++;
	t->oob += b.oob;
	if (want != 1 && rc != want)
	{
		t->unexpected++;
		if (t->first_bad[0] == '\0')
			snprintf(t->first_bad, sizeof(t->first_bad),
					 "%s: rc %d, wanted %d (%.200s)", what, rc, want,
					 rc == FRAME_MALFORMED ? err : "no error");
	}
	if (rc != FRAME_OK)
		frame_decoder_reset(&dec);
	free(copy);
	return rc;
}

static void
tally_init(Tally *t)
{
	memset(t, 0, sizeof(*t));
}

static bool
tally_check(const Tally *t, const char *fmt, const char *detail)
{
	bool		ok = t->bad == 0 && t->oob == 0 && t->unexpected == 0 &&
		t->inputs > 0;

	unit_check(ok, fmt, detail, t->inputs, t->ok, t->malformed);
	if (!ok)
		printf("#   %ld bad, %ld pointers outside, %ld unexpected; first: %s\n",
			   t->bad, t->oob, t->unexpected, t->first_bad);
	return ok;
}

/* start from a clean decoder, with the sample's prelude decoded */
static bool
prepare(const FrameBuf *prelude)
{
	Tally		t;

	frame_decoder_reset(&dec);
	if (prelude->len == 0)
		return true;
	tally_init(&t);
	return run(&t, prelude->data, prelude->len, FRAME_OK, "prelude") == FRAME_OK;
}

/* is n the end of a record of msg (records start at 4) */
static bool
record_boundary(const FrameBuf *m, size_t n)
{
	size_t		pos = 4;

	while (pos < m->len && pos < n)
	{
		size_t		blen = 0;
		int			shift = 0;

		pos++;					/* kind */
		while (m->data[pos] & 0x80)
		{
			blen |= (size_t) (m->data[pos++] & 0x7F) << shift;
			shift += 7;
		}
		blen |= (size_t) m->data[pos++] << shift;
		pos += blen;
	}
	return pos == n;
}

/* every prefix: invalid unless it ends on a record boundary */
static void
truncations(int s, const FrameBuf *prelude, const FrameBuf *m)
{
	Tally		t;
	char		what[64];
	size_t		n;

	tally_init(&t);
	for (n = 0; n < m->len; n++)
	{
		int			want = (n > 4 && record_boundary(m, n)) ? FRAME_OK : FRAME_MALFORMED;

		snprintf(what, sizeof(what), "sample %d cut to %zu", s, n);
		prepare(prelude);
		run(&t, m->data, n, want, what);
	}
	snprintf(what, sizeof(what), "sample %d", s);
	tally_check(&t, "%s: every truncation (%ld inputs, %ld ok, %ld malformed)", what);
}

/* every offset, several values each */
static void
corruptions(int s, const FrameBuf *prelude, const FrameBuf *m)
{
	unsigned char *buf = malloc(m->len);
	Tally		t;
	char		what[64];
	size_t		off;

	tally_init(&t);
	for (off = 0; off < m->len; off++)
	{
		unsigned char orig = m->data[off];
		const unsigned char vals[] = {0x00, 0x01, 0x7F, 0x80, 0xFF,
			orig ^ 0x01, orig ^ 0x80, orig + 1, orig - 1, 'B', 'R', 'I', 'M', 'C'};
		size_t		v;

		for (v = 0; v < sizeof(vals); v++)
		{
			if (vals[v] == orig)
				continue;
			memcpy(buf, m->data, m->len);
			buf[off] = vals[v];
			snprintf(what, sizeof(what), "sample %d byte %zu = 0x%02x", s, off, vals[v]);
			prepare(prelude);
			/* the magic and version are always checked */
			run(&t, buf, m->len, off < 4 ? FRAME_MALFORMED : 1, what);
		}
	}
	snprintf(what, sizeof(what), "sample %d", s);
	tally_check(&t, "%s: every single-byte corruption (%ld inputs, %ld ok, %ld malformed)", what);
	free(buf);
}

/* replace the length of the record at pos (header hlen bytes) */
static void
relength(FrameBuf *out, const FrameBuf *m, size_t pos, size_t hlen,
		 const unsigned char *len, size_t lenlen)
{
	fb_clear(out);
	fb_raw(out, m->data, pos + 1);
	fb_raw(out, len, lenlen);
	fb_raw(out, m->data + pos + 1 + hlen, m->len - pos - 1 - hlen);
}

/* each record's length one too long or short, huge, overlong */
static void
bad_lengths(int s, const FrameBuf *prelude, const FrameBuf *m)
{
	static const unsigned char huge[][10] = {
		{0xFF, 0xFF, 0xFF, 0xFF, 0x0F},
		{0xFF, 0xFF, 0xFF, 0xFF, 0x7F},
		{0x80, 0x80, 0x80, 0x80, 0x80, 0x01},
		{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01},
		{0x80, 0x80, 0x80, 0x80, 0x10},
	};
	static const size_t huge_len[] = {5, 5, 6, 10, 5};
	FrameBuf	out;
	Tally		t;
	char		what[64];
	size_t		pos = 4;

	fb_init(&out);
	tally_init(&t);
	while (pos < m->len)
	{
		FrameBuf	one;
		size_t		blen = 0;
		size_t		hlen = 0;
		int			shift = 0;
		size_t		k;
		int64_t		d;

		while (m->data[pos + 1 + hlen] & 0x80)
		{
			blen |= (size_t) (m->data[pos + 1 + hlen++] & 0x7F) << shift;
			shift += 7;
		}
		blen |= (size_t) m->data[pos + 1 + hlen++] << shift;
		for (d = -1; d <= 1000; d += (d == 1 ? 999 : 2))
		{
			fb_init(&one);
			fb_uv(&one, (uint64_t) ((int64_t) blen + d));
			relength(&out, m, pos, hlen, one.data, one.len);
			fb_free(&one);
			snprintf(what, sizeof(what), "sample %d record at %zu length %+lld",
					 s, pos, (long long) d);
			prepare(prelude);
			run(&t, out.data, out.len, FRAME_MALFORMED, what);
		}
		for (k = 0; k < sizeof(huge_len) / sizeof(huge_len[0]); k++)
		{
			relength(&out, m, pos, hlen, huge[k], huge_len[k]);
			snprintf(what, sizeof(what), "sample %d record at %zu huge length %zu",
					 s, pos, k);
			prepare(prelude);
			run(&t, out.data, out.len, FRAME_MALFORMED, what);
		}
		pos += 1 + hlen + blen;
	}
	snprintf(what, sizeof(what), "sample %d", s);
	tally_check(&t, "%s: wrong record lengths (%ld inputs, %ld ok, %ld malformed)", what);
	fb_free(&out);
}

/* every version but 1, every kind but B R I M C for the first record */
static void
versions_and_kinds(int s, const FrameBuf *prelude, const FrameBuf *m)
{
	unsigned char *buf = malloc(m->len);
	Tally		t;
	char		what[64];
	int			v;

	tally_init(&t);
	for (v = 0; v < 256; v++)
	{
		memcpy(buf, m->data, m->len);
		snprintf(what, sizeof(what), "sample %d version %d", s, v);
		buf[3] = (unsigned char) v;
		prepare(prelude);
		run(&t, buf, m->len, v == 1 ? FRAME_OK : FRAME_MALFORMED, what);
		if (strchr("BRIMC", v) != NULL && v != 0)
			continue;
		memcpy(buf, m->data, m->len);
		buf[4] = (unsigned char) v;
		snprintf(what, sizeof(what), "sample %d kind 0x%02x", s, v);
		prepare(prelude);
		run(&t, buf, m->len, FRAME_MALFORMED, what);
	}
	snprintf(what, sizeof(what), "sample %d", s);
	tally_check(&t, "%s: unknown versions and kinds (%ld inputs, %ld ok, %ld malformed)", what);
	free(buf);
}

static uint64_t rng = 0x2545F4914F6CDD1DULL;

static uint32_t
next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t) (rng >> 11);
}

/* random records: plausible kinds and lengths, random bodies */
static size_t
random_message(unsigned char *buf, size_t cap)
{
	size_t		len = 0;
	int			nrec = (int) (next_rand() % 6);
	int			i;

	if (next_rand() % 8 != 0)
	{
		memcpy(buf, "W2Q\001", 4);
		len = 4;
	}
	for (i = 0; i < nrec && len + 2 < cap; i++)
	{
		size_t		blen = next_rand() % 40;
		size_t		j;

		buf[len++] = (next_rand() % 8 == 0) ? (unsigned char) next_rand() :
			(unsigned char) "BRIMC"[next_rand() % 5];
		buf[len++] = (next_rand() % 8 == 0) ? (unsigned char) next_rand() :
			(unsigned char) blen;
		for (j = 0; j < blen && len < cap; j++)
			buf[len++] = (next_rand() % 2) ? (unsigned char) (next_rand() % 4) :
				(unsigned char) next_rand();
	}
	return len;
}

/* random garbage and random multi-byte mutations of the samples */
static void
garbage(void)
{
	unsigned char buf[512];
	FrameBuf	p;
	FrameBuf	m;
	Tally		t;
	int			i;

	tally_init(&t);
	frame_decoder_reset(&dec);
	for (i = 0; i < 100000; i++)
	{
		size_t		len = random_message(buf, sizeof(buf));

		/* the decoder keeps its transaction state between valid inputs */
		run(&t, buf, len, 1, "random message");
	}
	tally_check(&t, "%s (%ld inputs, %ld ok, %ld malformed)",
				"pseudo-random messages through one decoder");

	fb_init(&p);
	fb_init(&m);
	tally_init(&t);
	for (i = 0; i < 50000; i++)
	{
		int			s = (int) (next_rand() % (uint32_t) fb_sample_count());
		int			k = 1 + (int) (next_rand() % 8);
		unsigned char *mut;

		fb_sample(s, &p, &m);
		mut = m.data;
		while (k-- > 0)
			mut[4 + next_rand() % (m.len - 4)] = (unsigned char) next_rand();
		prepare(&p);
		run(&t, mut, m.len - next_rand() % 3, 1, "mutated sample");
	}
	tally_check(&t, "%s (%ld inputs, %ld ok, %ld malformed)",
				"samples with up to 8 random bytes changed");
	fb_free(&p);
	fb_free(&m);
}

int
main(void)
{
	FrameBuf	p;
	FrameBuf	m;
	Tally		t;
	int			s;

	frame_decoder_init(&dec);
	fb_init(&p);
	fb_init(&m);
	for (s = 0; s < fb_sample_count(); s++)
	{
		fb_sample(s, &p, &m);
		tally_init(&t);
		unit_check(prepare(&p) &&
				   run(&t, m.data, m.len, FRAME_OK, "sample") == FRAME_OK &&
				   t.oob == 0,
				   "sample %d (%zu bytes) is valid", s, m.len);
		truncations(s, &p, &m);
		corruptions(s, &p, &m);
		bad_lengths(s, &p, &m);
		versions_and_kinds(s, &p, &m);
	}
	garbage();
	fb_free(&p);
	fb_free(&m);
	frame_decoder_free(&dec);
	return unit_done();
}
