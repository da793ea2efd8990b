/*-------------------------------------------------------------------------
 *
 * redis_pipeline.c
 *		Commands in the Redis protocol, the calls in flight, writing them
 *		out and reading their replies without blocking.
 *
 * A command is built as its arguments (RespBuf) and handed to hiredis
 * with its header when complete; many are in flight at once.  Each reply
 * answers the oldest call still due (Redis answers in order), so a queue
 * of calls says what each reply is.  Replies are small (a verdict per
 * call, whatever the number of entries), so hiredis's own reader is used.
 *
 * An entry is built as the number of its arguments, then key, seq and its
 * fields (see resp_arg_entry); a staging list holds these as its elements.
 * At commit the entries of a deliver call are converted to the function's
 * shaped layout (resp_to_shaped: field names once per call).
 *
 * hiredis writes with write(2): the process must ignore SIGPIPE.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errbuf.h"
#include "redis_sink.h"

#define MAX_READS_PER_POLL	256

static bool bulk_header(RespBuf *b, size_t len);
static void bulk_trailer(RespBuf *b);

/* ---------------------------------------------------------------------
 * building commands
 * ---------------------------------------------------------------------
 */

static bool
reserve(RespBuf *b, size_t more)
{
	size_t		ncap;
	char	   *data;

	if (b->len + more <= b->cap)
		return true;
	ncap = b->cap ? b->cap : 256;
	while (ncap < b->len + more)
		ncap *= 2;
	if ((data = realloc(b->data, ncap)) == NULL)
		return false;
	b->data = data;
	b->cap = ncap;
	return true;
}

void
resp_reset(RespBuf *b)
{
	b->len = 0;
	b->nargs = 0;
	if (b->cap > 4 * REDIS_BATCH_BYTES)
	{
		/* give back the memory of something huge */
		free(b->data);
		b->data = NULL;
		b->cap = 0;
	}
}

void
resp_free(RespBuf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* append the arguments of another buffer */
bool
resp_arg_raw(RespBuf *b, const RespBuf *more)
{
	if (!reserve(b, more->len))
		return false;
	memcpy(b->data + b->len, more->data, more->len);
	b->len += more->len;
	b->nargs += more->nargs;
	return true;
}

/* msgpack: an unsigned integer, a str 32 (room reserved by the caller) */
static void
mp_uint(RespBuf *b, uint32_t v)
{
	char	   *o = b->data + b->len;

	if (v < 128)
	{
		o[0] = (char) v;
		b->len += 1;
	}
	else
	{
		o[0] = (char) 0xce;
		o[1] = (char) (v >> 24);
		o[2] = (char) (v >> 16);
		o[3] = (char) (v >> 8);
		o[4] = (char) v;
		b->len += 5;
	}
	b->nargs++;
}

static void
mp_str(RespBuf *b, const char *p, uint32_t len)
{
	char	   *o = b->data + b->len;

	o[0] = (char) 0xdb;
	o[1] = (char) (len >> 24);
	o[2] = (char) (len >> 16);
	o[3] = (char) (len >> 8);
	o[4] = (char) len;
	memcpy(o + 5, p, len);
	b->len += 5 + (size_t) len;
	b->nargs++;
}

/* msgpack elements appended to b (b->nargs counts them) */
bool
mp_arg_str(RespBuf *b, const char *p, size_t len)
{
	if (len > UINT32_MAX || !reserve(b, 5 + len))
		return false;
	mp_str(b, p, (uint32_t) len);
	return true;
}

bool
mp_arg_uint(RespBuf *b, uint64_t v)
{
	char	   *o;

	if (!reserve(b, 9))
		return false;
	if (v <= UINT32_MAX)
	{
		mp_uint(b, (uint32_t) v);
		return true;
	}
	o = b->data + b->len;
	o[0] = (char) 0xcf;
	for (int i = 0; i < 8; i++)
		o[1 + i] = (char) (v >> (56 - 8 * i));
	b->len += 9;
	b->nargs++;
	return true;
}

/* the argument at *p of a RespBuf, as bulk_header and bulk_trailer wrote it */
static const char *
resp_next(const char **p, uint32_t *len)
{
	const char *q = *p + 1;
	uint32_t	n = 0;

	for (; *q != '\r'; q++)
		n = n * 10 + (uint32_t) (*q - '0');
	q += 2;
	*len = n;
	*p = q + n + 2;
	return q;
}

/*
 * The shape of nfields (field, value) pairs at p: their names, each as 4
 * bytes of length and the bytes.  sig holds the shape of the entry before:
 * when the names are the same (a transaction's rows mostly are) it is kept
 * and true returned; otherwise it is rebuilt (false, *oom on failure).
 */
static bool
same_shape(const char *p, uint32_t nfields, RespBuf *sig, bool *oom)
{
	size_t		off = 0;
	bool		same = true;

	for (uint32_t f = 0; f < nfields; f++)
	{
		uint32_t	len;
		const char *name = resp_next(&p, &len);

		if (same && (off + 4 + len > sig->len ||
					 memcmp(sig->data + off, &len, 4) != 0 ||
					 memcmp(sig->data + off + 4, name, len) != 0))
		{
			same = false;
			sig->len = off;
		}
		if (!same)
		{
			if (!reserve(sig, 4 + (size_t) len))
			{
				*oom = true;
				return false;
			}
			memcpy(sig->data + sig->len, &len, 4);
			memcpy(sig->data + sig->len + 4, name, len);
			sig->len += 4 + (size_t) len;
		}
		off += 4 + len;
		resp_next(&p, &len);	/* value */
	}
	if (same && off != sig->len)
	{
		same = false;
		sig->len = off;
	}
	return same;
}

/*
 * The entries in args (each n, key, seq, field, value, ... as
 * resp_arg_entry wrote them) appended to blob in the shaped layout of the
 * deliver function (redis_progress.c): per entry its shape (1-based, in
 * shapes, where a new one is added) and its key (1-based, in keys: the
 * transaction's stream keys), seq and the values.  sig is scratch.
 */
bool
resp_to_shaped(RespBuf *blob, const RespBuf *args, const StrTab *keys,
			   StrTab *shapes, RespBuf *sig)
{
	const char *end = args->data + args->len;
	const char *p = args->data;
	int64_t		shape = -1;
	int64_t		k = -1;
	const char *lastkey = NULL;
	uint32_t	lastklen = 0;
	bool		oom = false;

	if (!reserve(blob, args->len + 5 * (size_t) args->nargs))
		return false;
	sig->len = 0;
	while (p < end)
	{
		uint32_t	len;
		const char *a = resp_next(&p, &len);
		uint32_t	n = 0;
		const char *key;
		const char *seq;
		uint32_t	klen;
		uint32_t	slen;

		for (uint32_t i = 0; i < len; i++)
			n = n * 10 + (uint32_t) (a[i] - '0');
		key = resp_next(&p, &klen);
		seq = resp_next(&p, &slen);
		n = (n - 2) / 2;		/* (field, value) pairs */
		if (!same_shape(p, n, sig, &oom) || shape < 0)
		{
			if (oom)
				return false;
			shape = strtab_intern(shapes, sig->len ? sig->data : "", sig->len);
		}
		if (lastkey == NULL || klen != lastklen || memcmp(key, lastkey, klen) != 0)
		{
			k = strtab_find(keys, key, klen);
			lastkey = key;
			lastklen = klen;
		}
		if (shape < 0 || k < 0)
			return false;
		mp_uint(blob, (uint32_t) shape + 1);
		mp_uint(blob, (uint32_t) k + 1);
		mp_str(blob, seq, slen);
		for (uint32_t f = 0; f < n; f++)
		{
			const char *v;

			resp_next(&p, &len);	/* name */
			v = resp_next(&p, &len);
			mp_str(blob, v, len);
		}
	}
	return true;
}

/*
 * One argument: the shapes of resp_to_shaped as a msgpack array (array
 * 32): per shape its number of fields and their names.
 */
bool
resp_arg_shapes(RespBuf *b, const StrTab *shapes)
{
	RespBuf		arr = {0};
	bool		ok = true;

	for (uint32_t s = 0; ok && s < shapes->n; s++)
	{
		size_t		slen;
		const char *q = strtab_get(shapes, s, &slen);
		const char *qend = q + slen;
		uint32_t	len;
		uint32_t	k = 0;

		for (const char *c = q; c < qend; c += 4 + len, k++)
			memcpy(&len, c, 4);
		if (!(ok = reserve(&arr, 5 + slen + 5 * (size_t) k)))
			break;
		mp_uint(&arr, k);
		for (; q < qend; q += 4 + len)
		{
			memcpy(&len, q, 4);
			mp_str(&arr, q + 4, len);
		}
	}
	ok = ok && resp_arg_msgpack_array(b, &arr);
	resp_free(&arr);
	return ok;
}

/*
 * One argument holding the msgpack strings of elems as an array (array
 * 32: 0xdd and the count in 4 bytes big-endian): however many entries a
 * call carries, Redis reads them as one large argument, in one read.
 */
bool
resp_arg_msgpack_array(RespBuf *b, const RespBuf *elems)
{
	unsigned char hdr[5] = {0xdd, (unsigned char) (elems->nargs >> 24),
		(unsigned char) (elems->nargs >> 16), (unsigned char) (elems->nargs >> 8),
	(unsigned char) elems->nargs};

	if (!bulk_header(b, sizeof(hdr) + elems->len))
		return false;
	memcpy(b->data + b->len, hdr, sizeof(hdr));
	b->len += sizeof(hdr);
	if (elems->len > 0)
		memcpy(b->data + b->len, elems->data, elems->len);
	b->len += elems->len;
	bulk_trailer(b);
	return true;
}

/* v in decimal at p (room for 20 digits); returns the digits written */
static size_t
put_u64(char *p, uint64_t v)
{
	char		tmp[20];
	size_t		n = 0;

	do
	{
		tmp[n++] = (char) ('0' + v % 10);
		v /= 10;
	} while (v > 0);
	for (size_t i = 0; i < n; i++)
		p[i] = tmp[n - 1 - i];
	return n;
}

/* "$len\r\n" (no printf: it was the bridge's top cost per entry) */
static bool
bulk_header(RespBuf *b, size_t len)
{
	if (!reserve(b, len + 32))
		return false;
	b->data[b->len++] = '$';
	b->len += put_u64(b->data + b->len, len);
	b->data[b->len++] = '\r';
	b->data[b->len++] = '\n';
	return true;
}

static void
bulk_trailer(RespBuf *b)
{
	b->data[b->len++] = '\r';
	b->data[b->len++] = '\n';
	b->nargs++;
}

bool
resp_arg(RespBuf *b, const char *p, size_t len)
{
	if (!bulk_header(b, len))
		return false;
	if (len > 0)
		memcpy(b->data + b->len, p, len);
	b->len += len;
	bulk_trailer(b);
	return true;
}

bool
resp_arg_str(RespBuf *b, const char *s)
{
	return resp_arg(b, s, strlen(s));
}

bool
resp_arg_u64(RespBuf *b, uint64_t v)
{
	char		buf[24];

	return resp_arg(b, buf, put_u64(buf, v));
}

/* an LSN as 16 hex digits: LSNs compare as these strings do */
bool
resp_arg_lsnhex(RespBuf *b, uint64_t lsn)
{
	char		buf[24];

	return resp_arg(b, buf, (size_t) snprintf(buf, sizeof(buf), "%08X%08X",
											  (unsigned) (lsn >> 32),
											  (unsigned) lsn));
}

/*
 * One entry as arguments: their number n, then key, seq and the (field,
 * value) pairs.  The function passes them to XADD as key [MAXLEN ~ N] *
 * _lsn <commit LSN> _seq <seq> field value ..., the constants its own and
 * the slice after the key unpacked as it is: no copying per entry, and no
 * argument per entry that every entry of the transaction repeats.
 */
bool
resp_arg_entry(RespBuf *b, const char *key, size_t keylen, const FrameJob *job)
{
	uint32_t	npairs = 0;

	if (job->is_message)
		npairs = job->has_key ? 2 : 1;
	else
		for (uint32_t i = 0; i < job->rel->ncols; i++)
			npairs += job->values[i].isnull ? 0 : 1;
	if (!resp_arg_u64(b, 2 + 2 * (uint64_t) npairs) ||
		!resp_arg(b, key, keylen) || !resp_arg_u64(b, job->seq))
		return false;
	if (job->is_message)
		return resp_arg(b, "payload", 7) &&
			resp_arg(b, job->payload.data, job->payload.len) &&
			(!job->has_key || (resp_arg(b, "key", 3) &&
							   resp_arg(b, job->key.data, job->key.len)));
	for (uint32_t i = 0; i < job->rel->ncols; i++)
	{
		if (job->values[i].isnull)
			continue;
		if (!resp_arg(b, job->rel->cols[i].name.data, job->rel->cols[i].name.len) ||
			!resp_arg(b, job->values[i].data.data, job->values[i].data.len))
			return false;
	}
	return true;
}

/* ---------------------------------------------------------------------
 * calls in flight
 * ---------------------------------------------------------------------
 */

static void
call_free(RCall *c)
{
	free(c->items);
	free(c);
}

/*
 * Append the command head + body (and a second command argv2, WAIT or
 * EXPIRE, when argc2 > 0) to the output buffer, and queue call for their
 * replies.  The call is taken over, also on failure.
 */
int
pipe_send(Sink *s, RCall *call, const RespBuf *head, const RespBuf *body,
		  int argc2, const char **argv2)
{
	RedisSink  *rs = s->priv;
	char		hdr[32];
	size_t		hlen = (size_t) snprintf(hdr, sizeof(hdr), "*%" PRIu32 "\r\n",
										 head->nargs + (body ? body->nargs : 0));
	size_t		before = sdslen(rs->ctx->obuf);

	if (redisAppendFormattedCommand(rs->ctx, hdr, hlen) != REDIS_OK ||
		redisAppendFormattedCommand(rs->ctx, head->data, head->len) != REDIS_OK ||
		(body && body->len > 0 &&
		 redisAppendFormattedCommand(rs->ctx, body->data, body->len) != REDIS_OK) ||
		(argc2 > 0 &&
		 redisAppendCommandArgv(rs->ctx, argc2, argv2, NULL) != REDIS_OK))
	{
		call_free(call);
		return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
						  "could not queue a Redis command: out of memory");
	}
	call->next = NULL;
	call->size = sdslen(rs->ctx->obuf) - before;
	call->replies_due = argc2 > 0 ? 2 : 1;
	if (rs->tail)
		rs->tail->next = call;
	else
		rs->head = call;
	rs->tail = call;
	rs->pending += call->size;
	if (call->kind == RCALL_DELIVER)
		rs->ndeliver++;
	return SINK_OK;
}

/* forget every call in flight */
void
pipe_clear(RedisSink *rs)
{
	while (rs->head != NULL)
	{
		RCall	   *c = rs->head;

		rs->head = c->next;
		redis_stage_release(rs, c);
		call_free(c);
	}
	rs->tail = NULL;
	rs->pending = 0;
	rs->ndeliver = 0;
}

/* write what the socket takes now */
int
pipe_flush(Sink *s)
{
	RedisSink  *rs = s->priv;
	int			done = 0;

	while (!done)
	{
		size_t		before = sdslen(rs->ctx->obuf);

		if (redisBufferWrite(rs->ctx, &done) != REDIS_OK)
			return redis_lost(s);
		if (!done && sdslen(rs->ctx->obuf) == before)
			break;				/* the socket is full */
	}
	return SINK_OK;
}

/* one reply, for the oldest call due */
static int
dispatch(Sink *s, const redisReply *r)
{
	RedisSink  *rs = s->priv;
	RCall	   *c = rs->head;
	int			rc;

	if (c == NULL)
		return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
						  "unexpected reply from Redis with no command in flight");
	if (c->kind == RCALL_STAGE)
		rc = c->stale ? SINK_OK : progress_on_stage(s, c, r);
	else if (c->kind == RCALL_EVICT)
		rc = redis_evict_on_reply(s, c, r);
	else if (c->kind == RCALL_SWEEP || c->kind == RCALL_UNLINK)
		rc = c->stale ? SINK_OK : redis_sweep_on_reply(s, c, r);
	else if (c->kind == RCALL_RECORD)
		rc = c->stale ? SINK_OK : progress_on_record(s, r);
	else if (c->wait && c->replies_due == 1)
		rc = progress_on_wait(s, c, r);
	else
		rc = progress_on_deliver(s, c, r);
	if (--c->replies_due == 0)
	{
		rs->head = c->next;
		if (rs->head == NULL)
			rs->tail = NULL;
		rs->pending -= c->size;
		if (c->kind == RCALL_DELIVER)
			rs->ndeliver--;
		redis_stage_release(rs, c);
		call_free(c);
	}
	if (rc == SINK_RETRY)
		rs->refused = true;
	return rc;
}

/* handle every complete reply hiredis holds */
int
pipe_read(Sink *s)
{
	RedisSink  *rs = s->priv;

	for (;;)
	{
		void	   *reply = NULL;
		int			rc;

		if (redisGetReplyFromReader(rs->ctx, &reply) != REDIS_OK)
			return redis_lost(s);
		if (reply == NULL)
			return SINK_OK;
		rc = dispatch(s, reply);
		freeReplyObject(reply);
		if (rc != SINK_OK)
			return rc;
	}
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* wait for the socket; returns poll's revents, 0 on timeout, -1 on error */
static int
wait_socket(RedisSink *rs, int timeout_ms)
{
	struct pollfd pfd;
	int			rc;

	pfd.fd = rs->ctx->fd;
	pfd.events = POLLIN;
	if (sdslen(rs->ctx->obuf) > 0)
		pfd.events |= POLLOUT;
	pfd.revents = 0;
	rc = poll(&pfd, 1, timeout_ms);
	return rc <= 0 ? rc : pfd.revents;
}

/* write and read for at most timeout_ms (never more than SINK_MAX_WAIT_MS) */
int
pipe_poll(Sink *s, int timeout_ms)
{
	RedisSink  *rs = s->priv;
	int64_t		deadline;
	int			reads = 0;
	int			rc;

	if (timeout_ms < 0 || timeout_ms > SINK_MAX_WAIT_MS)
		timeout_ms = SINK_MAX_WAIT_MS;
	deadline = now_ms() + timeout_ms;
	if ((rc = pipe_flush(s)) != SINK_OK || (rc = pipe_read(s)) != SINK_OK)
		return rc;
	while (reads < MAX_READS_PER_POLL)
	{
		int64_t		left = deadline - now_ms();
		int			wait = reads > 0 || left < 0 ? 0 : (int) left;
		int			ev = wait_socket(rs, wait);

		if (ev < 0 && errno == EINTR)
			return SINK_OK;
		if (ev < 0)
			return errbuf_set(s->err, SINK_ERRLEN, SINK_RETRY,
							  "could not wait for the Redis socket: %s",
							  strerror(errno));
		if (ev == 0)
			break;
		if ((ev & POLLOUT) && (rc = pipe_flush(s)) != SINK_OK)
			return rc;
		if (ev & (POLLIN | POLLERR | POLLHUP | POLLNVAL))
		{
			if (redisBufferRead(rs->ctx) != REDIS_OK)
				return redis_lost(s);
			if ((rc = pipe_read(s)) != SINK_OK)
				return rc;
			reads++;
		}
		else if (wait == 0)
			break;
	}
	return SINK_OK;
}
