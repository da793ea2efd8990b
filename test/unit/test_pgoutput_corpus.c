/*-------------------------------------------------------------------------
 *
 * test_pgoutput_corpus.c
 *		Malformed-input corpus for the pgoutput reader: every message of the
 *		real sample (pgoutput_sample.h), in its place in the stream, cut at
 *		every length and with every byte corrupted, then pseudo-random
 *		messages of every type (fixed seed).  Every input must give FRAME_OK
 *		or a clean FRAME_MALFORMED (a non-empty message, lower case, no
 *		trailing period), never a read outside the message (run with
 *		SANITIZE=1), and every pointer handed to a callback must point into
 *		the message (or, for a composite key, into the decoder's buffer).
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgoutput.h"
#include "pgoutput_sample.h"
#include "unit.h"

typedef struct Tally
{
	long		inputs;
	long		ok;
	long		malformed;
	long		bad;
	long		oob;
	char		first_bad[300];
} Tally;

typedef struct Bounds
{
	const char *lo;
	const char *hi;
	const PgoDecoder *dec;
	long		oob;
} Bounds;

static void
check_bytes(Bounds *b, FrameBytes x, bool may_be_keybuf)
{
	if (x.len == 0)
		return;
	if (x.data >= b->lo && x.data <= b->hi && x.len <= (size_t) (b->hi - x.data))
		return;
	if (may_be_keybuf && x.data == b->dec->keybuf.data && x.len <= b->dec->keybuf.cap)
		return;
	if (x.data == (const char *) "wal2queue" || strncmp(x.data, "wal2queue", 9) == 0)
		return;					/* the default message target */
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
	if (job->is_message)
	{
		check_bytes(b, job->target, false);
		check_bytes(b, job->payload, false);
		if (job->has_key)
			check_bytes(b, job->key, false);
		return 0;
	}
	if (job->target.data != job->rel->name.data)
		check_bytes(b, job->target, false);
	if (job->has_key)
		check_bytes(b, job->key, true);
	for (i = 0; i < job->rel->ncols; i++)
		if (!job->values[i].isnull)
			check_bytes(b, job->values[i].data, false);
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

static bool
clean_message(const char *err, size_t errlen)
{
	size_t		n = strnlen(err, errlen);

	return n > 0 && n < errlen && !isupper((unsigned char) err[0]) &&
		err[n - 1] != '.' && err[n - 1] != '\n';
}

/* a decoder that has read the sample up to (not including) message upto */
static void
prepare(PgoDecoder *dec, int upto)
{
	unsigned char buf[1024];
	char		err[256];
	int			i;

	pgo_decoder_init(dec, NULL);
	for (i = 0; i < upto; i++)
	{
		size_t		n = pgo_unhex(pgo_sample[i], buf, sizeof(buf));

		pgo_decode(dec, (const char *) buf, n, NULL, NULL, err, sizeof(err));
	}
}

/* one input from an exact-size heap copy, on a decoder prepared to upto */
static void
run(Tally *t, int upto, const unsigned char *msg, size_t len, const char *what)
{
	PgoDecoder	dec;
	char	   *copy = malloc(len ? len : 1);
	char		err[256];
	Bounds		b;
	int			rc;

	prepare(&dec, upto);
	if (len)
		memcpy(copy, msg, len);
	b.lo = copy;
	b.hi = copy + len;
	b.dec = &dec;
	b.oob = 0;
	memset(err, 'x', sizeof(err));
	rc = pgo_decode(&dec, copy, len, &handlers, &b, err, sizeof(err));
	t->inputs++;
	if (rc == FRAME_OK && strnlen(err, sizeof(err)) == 0)
		t->ok++;
	else if (rc == FRAME_MALFORMED && clean_message(err, sizeof(err)))
		t->malformed++;
	else
	{
		t->bad++;
		if (t->first_bad[0] == '\0')
			snprintf(t->first_bad, sizeof(t->first_bad), "%s: rc %d, message \"%.200s\"",
					 what, rc, rc == FRAME_MALFORMED ? err : "");
	}
	t->oob += b.oob;
	pgo_decoder_free(&dec);
	free(copy);
}

static void
tally_check(const Tally *t, const char *what)
{
	unit_check(t->bad == 0 && t->oob == 0,
			   "%s: %ld inputs, %ld ok, %ld malformed, %ld bad, %ld pointers outside%s%s",
			   what, t->inputs, t->ok, t->malformed, t->bad, t->oob,
			   t->first_bad[0] ? "; first: " : "", t->first_bad);
}

static void
truncations_and_corruptions(void)
{
	static const unsigned char flips[] = {0x01, 0x80, 0xff};
	Tally		cut = {0};
	Tally		bad = {0};
	int			i;

	for (i = 0; pgo_sample[i]; i++)
	{
		unsigned char m[1024];
		unsigned char c[1024];
		size_t		n = pgo_unhex(pgo_sample[i], m, sizeof(m));
		size_t		len;
		size_t		pos;
		size_t		f;
		char		what[64];

		for (len = 0; len < n; len++)
		{
			snprintf(what, sizeof(what), "message %d cut at %zu", i, len);
			run(&cut, i, m, len, what);
		}
		for (pos = 0; pos < n; pos++)
			for (f = 0; f < sizeof(flips); f++)
			{
				memcpy(c, m, n);
				c[pos] ^= flips[f];
				snprintf(what, sizeof(what), "message %d byte %zu ^ 0x%02x", i, pos, flips[f]);
				run(&bad, i, c, n, what);
			}
	}
	tally_check(&cut, "every sample message cut at every length");
	unit_check(cut.malformed > 0 && cut.ok == 0, "no cut message is accepted (%ld ok)", cut.ok);
	tally_check(&bad, "every byte of every sample message corrupted");
}

static uint32_t seed = 12345;

static uint32_t
next_rand(void)
{
	seed = seed * 1103515245 + 12345;
	return (seed >> 8) & 0xffffff;
}

static void
garbage(void)
{
	static const char types[] = "BCRIMYOUDTSEAcKN\0";
	Tally		t = {0};
	int			i;

	for (i = 0; i < 50000; i++)
	{
		unsigned char m[96];
		size_t		n = 1 + next_rand() % sizeof(m);
		size_t		j;
		char		what[64];

		m[0] = (unsigned char) types[next_rand() % (sizeof(types) - 1)];
		for (j = 1; j < n; j++)
		{
			/* small numbers and zeros make lengths and strings plausible */
			uint32_t	r = next_rand() % 8;

			m[j] = r < 3 ? 0 : r < 5 ? (unsigned char) (next_rand() % 4) :
				(unsigned char) next_rand();
		}
		snprintf(what, sizeof(what), "random message %d", i);
		run(&t, (int) (next_rand() % 18), m, n, what);
	}
	tally_check(&t, "pseudo-random messages of every type, at every place in the sample");
}

int
main(void)
{
	truncations_and_corruptions();
	garbage();
	return unit_done();
}
