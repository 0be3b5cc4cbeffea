/*
 * fanout.c - one encoded line, many subscribers, nobody waits.
 *
 * Lines are copied once into large reference-counted chunks.  A
 * subscriber's queue is a libevent evbuffer holding references into those
 * chunks (evbuffer_add_reference), never copies: consecutive lines a
 * subscriber wants are coalesced into one reference, so an unfiltered
 * subscriber costs one reference per batch, not one per event.  A chunk is
 * freed (or kept as the spare) when the last queue lets go of it.
 *
 * Every subscriber has a high and a low watermark on its queued bytes.
 * Past the high mark, policy "drop" discards its lines and counts them;
 * once its queue falls below the low mark it first receives
 *   {"type":"lost","count":N,"first_seq":A,"last_seq":B,"time":"..."}
 * so loss is never silent.  Policy "disconnect" fails the subscriber.
 *
 * Writes never block: after each batch every subscriber with data gets one
 * writev(2) (evbuffer_write); what is left waits for EV_WRITE.  Outputs
 * that cannot be polled (regular files, /dev/null) are written in full.
 *
 * A subscriber that fails (write error, too slow under "disconnect") is
 * not freed in the middle of a loop over subscribers: it is marked and its
 * owner's fail callback runs from a deferred event.
 *
 * Producers of lines for everyone that can wait (a resync, unlike the
 * kernel's events) pace themselves on the subscribers (fanout_over(),
 * fanout_waiter_arm()): they pause while a subscriber that keeps up has
 * half its high watermark queued, and go on once every such subscriber
 * is down to its low watermark.  Not waited for: subscribers already
 * dropping (they get a lost line anyway), and stalled ones, which have
 * had data queued and taken nothing of it for FANOUT_STALL_MS, so that
 * one reader that stopped cannot stop the others' repair for ever.
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "compat.h"
#include "encode.h"
#include "fanout.h"
#include "filter.h"

#define FANOUT_CHUNK	(256U * 1024)
#define FANOUT_IOV	64		/* iovecs per writev(2) */
#define FANOUT_STALL_MS	2000		/* taking nothing this long: stalled */
#define FANOUT_PACE_MS	200		/* waiting producers look again */
/* Below one skb of a Unix stream socket (SKB_MAX_HEAD + 32 KiB of frags):
 * such a write is taken whole or not at all (see fanout_sub_writev). */
#define FANOUT_UNIX_WRITE	(32U * 1024)

struct chunk {
	struct fanout	*fo;
	unsigned int	 refs;
	size_t		 cap;
	size_t		 used;
	char		 data[];
};

struct sub {
	TAILQ_ENTRY(sub)	 entry;
	struct fanout		*fo;
	int			 fd;
	bool			 pollable;
	size_t			 unixmax;	/* whole lines up to this, or 0 */
	bool			 active;
	bool			 dropping;
	bool			 holding;	/* live events wait in held */
	bool			 want_drain;
	bool			 midline;	/* the last write ended mid-line */
	sub_drain_cb		 empty;		/* call once all is written */
	int			 failed;	/* 0, -errno or SUB_FAIL_SLOW */
	bool			 told;		/* the owner heard of it */
	unsigned int		 types;		/* EV_TYPE_BIT mask */
	unsigned int		 kinds;		/* EV_KIND_BIT mask */
	unsigned int		 btypes;	/* the owner's limit on types */
	unsigned int		 bkinds;	/* and on kinds */
	struct filter		*filter;	/* NULL: everything */
	struct sub_opts		 opts;
	struct evbuffer		*out;
	struct evbuffer		*held;		/* live events during a sync */
	struct event		*wev;
	struct chunk		*pchunk;	/* pending range, not yet queued */
	size_t			 poff;
	size_t			 plen;
	uint64_t		 lost;		/* dropped since the last report */
	uint64_t		 lost_first;
	uint64_t		 lost_last;
	long long		 idle_ms;	/* data waits, nothing taken since */
	struct sub_stats	 st;
	sub_fail_cb		 fail;
	sub_drain_cb		 drain;
	void			*arg;
};

TAILQ_HEAD(subs, sub);

/* A producer of lines for everyone that waits for the subscribers. */
struct fanout_waiter {
	TAILQ_ENTRY(fanout_waiter)	 entry;
	struct fanout			*fo;
	void				(*cb)(void *);
	void				*arg;
	bool				 armed;
};

TAILQ_HEAD(waiters, fanout_waiter);

struct fanout {
	struct event_base	*base;
	struct subs		 subs;
	unsigned int		 nsubs;
	struct chunk		*cur;
	struct chunk		*spare;
	struct event		*reap;
	struct sub_stats	 gone;		/* of subscribers freed */
	struct waiters		 waiters;
	unsigned int		 narmed;	/* waiters waiting */
	struct event		*pace;		/* wakes them */
	long long		 stall_ms;
};

static void	fanout_sub_write(evutil_socket_t, short, void *);
static void	fanout_pace(evutil_socket_t, short, void *);

/* Milliseconds on the monotonic clock (coarse: ticks are enough). */
static long long
fanout_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Have the waiting producers look again soon (from the loop). */
static void
fanout_kick(struct fanout *fo)
{
	if (fo->narmed > 0)
		event_active(fo->pace, EV_TIMEOUT, 0);
}

/* Free a chunk, or keep it as the spare if it is a standard one. */
static void
fanout_chunk_release(struct chunk *c)
{
	struct fanout	*fo = c->fo;

	if (fo != NULL && fo->spare == NULL && c->cap == FANOUT_CHUNK) {
		c->used = 0;
		fo->spare = c;
		return;
	}
	free(c);
}

/* Drop one reference to a chunk. */
static void
fanout_chunk_unref(struct chunk *c)
{
	if (--c->refs == 0)
		fanout_chunk_release(c);
}

/* evbuffer cleanup callback: a queue let go of a reference. */
static void
fanout_chunk_cleanup(const void *data, size_t len, void *arg)
{
	fanout_chunk_unref(arg);
}

/* Return a chunk with room for len bytes, starting a new one if needed. */
static struct chunk *
fanout_chunk_room(struct fanout *fo, size_t len)
{
	struct chunk	*c = fo->cur;
	size_t		 cap;

	if (c != NULL && c->cap - c->used >= len)
		return (c);
	/* Pending ranges point into the old chunk: queue them first. */
	fanout_flush(fo);
	if (c != NULL) {
		fo->cur = NULL;
		fanout_chunk_unref(c);
	}
	if (len <= FANOUT_CHUNK && fo->spare != NULL) {
		c = fo->spare;
		fo->spare = NULL;
	} else {
		cap = len > FANOUT_CHUNK ? len : FANOUT_CHUNK;
		if ((c = malloc(sizeof *c + cap)) == NULL)
			return (NULL);
		c->cap = cap;
	}
	c->fo = fo;
	c->refs = 1;
	c->used = 0;
	fo->cur = c;
	return (c);
}

/* Mark a subscriber failed and schedule its owner's callback. */
static void
fanout_sub_fail(struct sub *s, int error)
{
	if (s->failed != 0)
		return;
	s->failed = error;
	/* Its pending range holds no reference: forget it now. */
	s->pchunk = NULL;
	s->plen = 0;
	event_active(s->fo->reap, EV_TIMEOUT, 0);
	fanout_kick(s->fo);
}

/* Deferred: tell owners about failed subscribers (they usually free them). */
static void
fanout_reap(evutil_socket_t fd, short what, void *arg)
{
	struct fanout	*fo = arg;
	struct sub	*s, *next;

	TAILQ_FOREACH_SAFE(s, &fo->subs, entry, next) {
		if (s->failed != 0 && !s->told) {
			s->told = true;
			s->fail(s, s->failed, s->arg);
		}
	}
}

/* Make a fan-out. */
struct fanout *
fanout_new(struct event_base *base)
{
	struct fanout	*fo;

	if ((fo = calloc(1, sizeof *fo)) == NULL)
		return (NULL);
	fo->base = base;
	fo->stall_ms = FANOUT_STALL_MS;
	TAILQ_INIT(&fo->subs);
	TAILQ_INIT(&fo->waiters);
	fo->reap = event_new(base, -1, 0, fanout_reap, fo);
	fo->pace = evtimer_new(base, fanout_pace, fo);
	if (fo->reap == NULL || fo->pace == NULL) {
		if (fo->reap != NULL)
			event_free(fo->reap);
		if (fo->pace != NULL)
			event_free(fo->pace);
		free(fo);
		return (NULL);
	}
	return (fo);
}

/* Free a fan-out and every subscriber still on it; NULL is fine. */
void
fanout_free(struct fanout *fo)
{
	struct sub		*s;
	struct fanout_waiter	*w;

	if (fo == NULL)
		return;
	while ((s = TAILQ_FIRST(&fo->subs)) != NULL)
		fanout_sub_free(s);
	/* Their owners free them later: they only lose the fan-out. */
	while ((w = TAILQ_FIRST(&fo->waiters)) != NULL) {
		TAILQ_REMOVE(&fo->waiters, w, entry);
		w->fo = NULL;
	}
	event_free(fo->pace);
	if (fo->cur != NULL) {
		fo->cur->fo = NULL;
		fanout_chunk_unref(fo->cur);
	}
	free(fo->spare);
	event_free(fo->reap);
	free(fo);
}

/* Return the number of subscribers. */
unsigned int
fanout_count(const struct fanout *fo)
{
	return (fo->nsubs);
}

/* Add one subscriber's counters to a sum. */
static void
fanout_stats_add(struct sub_stats *sum, const struct sub_stats *st)
{
	sum->lines += st->lines;
	sum->bytes += st->bytes;
	sum->dropped += st->dropped;
	sum->lost_reports += st->lost_reports;
}

/*
 * The counters of every subscriber since the fan-out began, those freed
 * included, so that the sums never go down.
 */
void
fanout_totals(const struct fanout *fo, struct sub_stats *sum)
{
	const struct sub	*s;

	*sum = fo->gone;
	TAILQ_FOREACH(s, &fo->subs, entry)
		fanout_stats_add(sum, &s->st);
}

/*
 * Move a subscriber's pending range into its queue, or into the held
 * queue while it waits for the end of a snapshot.
 */
static void
fanout_sub_queue_pending(struct sub *s)
{
	struct chunk	*c = s->pchunk;

	if (c == NULL)
		return;
	c->refs++;
	if (evbuffer_add_reference(s->holding ? s->held : s->out,
	    c->data + s->poff, s->plen, fanout_chunk_cleanup, c) == -1) {
		c->refs--;
		fanout_sub_fail(s, -ENOMEM);
	}
	s->pchunk = NULL;
	s->plen = 0;
}

/* Return the bytes queued for a subscriber, pending and held included. */
size_t
fanout_sub_queued(const struct sub *s)
{
	return (evbuffer_get_length(s->out) + evbuffer_get_length(s->held) +
	    s->plen);
}

/* Tell whether a subscriber is at or above its high watermark. */
bool
fanout_sub_over(const struct sub *s)
{
	return (fanout_sub_queued(s) >= s->opts.hiwat);
}

/*
 * Tell whether a producer of lines for this subscriber (a snapshot, a
 * dump) must pause: its output queue (held live events aside) reached
 * half the high watermark.  Half, so that live events held meanwhile
 * still have room below the mark where they would be dropped.
 */
bool
fanout_sub_out_over(const struct sub *s)
{
	return (evbuffer_get_length(s->out) + s->plen >= s->opts.hiwat / 2);
}

/*
 * Tell whether a subscriber holds back the producers of lines for
 * everyone (see the top of this file): it is active and working, not
 * dropping, not stalled at time now (0: whatever the time), and has at
 * least half its high watermark queued, or, for producers waiting to
 * resume, more than its low watermark.
 */
static bool
fanout_sub_holds(const struct sub *s, long long now, bool resuming)
{
	size_t	queued;

	if (!s->active || s->failed != 0 || s->dropping || (now != 0 &&
	    s->idle_ms != 0 && now - s->idle_ms >= s->fo->stall_ms))
		return (false);
	queued = fanout_sub_queued(s);
	if (resuming)
		return (queued > s->opts.lowat || queued > s->opts.hiwat / 2);
	return (queued >= s->opts.hiwat / 2);
}

/* Tell whether any subscriber holds the producers back. */
static bool
fanout_held(const struct fanout *fo, bool resuming)
{
	struct sub	*s;
	long long	 now = fanout_now_ms();

	TAILQ_FOREACH(s, &fo->subs, entry)
		if (fanout_sub_holds(s, now, resuming))
			return (true);
	return (false);
}

/*
 * Tell whether a producer of lines for every subscriber that can wait (a
 * resync) must pause: some subscriber that keeps up has half its high
 * watermark queued.  The producer then arms a waiter to go on.
 */
bool
fanout_over(const struct fanout *fo)
{
	return (fanout_held(fo, false));
}

/*
 * Deferred, and every FANOUT_PACE_MS while producers wait (a subscriber
 * may become stalled without any event): call the waiters once nobody
 * holds them back.  A callback may arm its waiter again, not free
 * another.
 */
static void
fanout_pace(evutil_socket_t fd, short what, void *arg)
{
	struct fanout		*fo = arg;
	struct fanout_waiter	*w, *next;
	struct timeval		 tv = { 0, FANOUT_PACE_MS * 1000 };

	if (fo->narmed == 0)
		return;
	if (fanout_held(fo, true)) {
		if (!evtimer_pending(fo->pace, NULL))
			evtimer_add(fo->pace, &tv);
		return;
	}
	TAILQ_FOREACH_SAFE(w, &fo->waiters, entry, next) {
		if (!w->armed)
			continue;
		w->armed = false;
		fo->narmed--;
		w->cb(w->arg);
	}
}

/* Make a waiter for a producer of lines for everyone; cb gets arg. */
struct fanout_waiter *
fanout_waiter_new(struct fanout *fo, void (*cb)(void *), void *arg)
{
	struct fanout_waiter	*w;

	if ((w = calloc(1, sizeof *w)) == NULL)
		return (NULL);
	w->fo = fo;
	w->cb = cb;
	w->arg = arg;
	TAILQ_INSERT_TAIL(&fo->waiters, w, entry);
	return (w);
}

/* Free a waiter (it is not called any more); NULL is fine. */
void
fanout_waiter_free(struct fanout_waiter *w)
{
	if (w == NULL)
		return;
	if (w->fo != NULL) {
		if (w->armed)
			w->fo->narmed--;
		TAILQ_REMOVE(&w->fo->waiters, w, entry);
	}
	free(w);
}

/*
 * Call the waiter's callback once, from the loop, when no subscriber
 * holds producers back any more (at once, if none does now).
 */
void
fanout_waiter_arm(struct fanout_waiter *w)
{
	if (w->fo == NULL || w->armed)
		return;
	w->armed = true;
	w->fo->narmed++;
	fanout_kick(w->fo);
}

/*
 * How long a subscriber may take nothing of what is queued for it
 * before producers stop waiting for it (tests use a short one).
 */
void
fanout_set_stall_ms(struct fanout *fo, long long ms)
{
	fo->stall_ms = ms;
}

/* Count one line a dropping subscriber did not get. */
static void
fanout_sub_drop(struct sub *s, uint64_t seq)
{
	if (s->lost == 0)
		s->lost_first = seq;
	s->lost++;
	s->lost_last = seq;
	s->st.dropped++;
}

/*
 * Queue the lost line for a subscriber that has drained, before any
 * further event.
 */
static void
fanout_sub_report_lost(struct sub *s)
{
	char		line[256], t[ENCODE_TIMELEN];
	struct timespec	now;
	int		n;

	clock_gettime(CLOCK_REALTIME, &now);
	encode_time(t, now.tv_sec, now.tv_nsec / 1000, 6);
	n = snprintf(line, sizeof line, "{\"type\":\"lost\",\"count\":%llu,"
	    "\"first_seq\":%llu,\"last_seq\":%llu,\"time\":\"%s\"}\n",
	    (unsigned long long)s->lost, (unsigned long long)s->lost_first,
	    (unsigned long long)s->lost_last, t);
	s->lost = 0;
	s->st.lost_reports++;
	fanout_sub_send(s, line, n);
}

/*
 * Offer one encoded line to every subscriber.  ev selects who wants it;
 * NULL means everyone that is active (stream notices such as overruns).
 * seq is the line's sequence number, for loss reports.
 */
void
fanout_publish(struct fanout *fo, const struct event *ev, const char *line,
    size_t len, uint64_t seq)
{
	struct filter_view	 view;
	struct chunk		*c;
	struct sub		*s;
	size_t			 off;
	bool			 viewed = false;

	if (fo->nsubs == 0)
		return;
	if ((c = fanout_chunk_room(fo, len)) == NULL)
		return;
	off = c->used;
	memcpy(c->data + off, line, len);
	c->used += len;

	TAILQ_FOREACH(s, &fo->subs, entry) {
		if (!s->active || s->failed != 0)
			continue;
		if (ev != NULL && ((s->types & EV_TYPE_BIT(ev->type)) == 0 ||
		    (s->kinds & EV_KIND_BIT(ev->kind)) == 0))
			continue;
		/*
		 * A vanished entry known by its id only passes unless what
		 * is known of it (type, kind, namespace) rules it out.
		 */
		if (ev != NULL && s->filter != NULL) {
			if (!viewed) {
				filter_view(ev, &view);
				viewed = true;
			}
			if (view.partial ? !filter_match_partial(s->filter,
			    &view) : !filter_match(s->filter, &view))
				continue;
		}
		if (s->dropping || fanout_sub_over(s)) {
			if (s->opts.policy == SUB_DISCONNECT) {
				fanout_sub_fail(s, SUB_FAIL_SLOW);
				continue;
			}
			s->dropping = true;
			fanout_sub_drop(s, seq);
			continue;
		}
		s->st.lines++;
		if (s->pchunk == c && s->poff + s->plen == off) {
			s->plen += len;
			continue;
		}
		fanout_sub_queue_pending(s);
		s->pchunk = c;
		s->poff = off;
		s->plen = len;
	}
}

/*
 * evbuffer_write(), remembering whether the last byte written ended a line,
 * so that a shutdown can finish a line begun rather than cut it.
 *
 * To a Unix stream socket it writes whole lines only, at most
 * FANOUT_UNIX_WRITE bytes at a time: Linux queues such a write as one
 * buffer, all of it or, when the socket is full, none (EAGAIN), so the
 * reader never holds part of a line, even when it is dropped as too slow
 * and reads what it was sent long after.  (Only a line longer than that
 * can be cut.)  Sets *whole when everything offered was taken.
 */
static int
fanout_sub_writev(struct sub *s, bool *whole)
{
	struct evbuffer_iovec	 v[FANOUT_IOV];
	struct iovec		 iov[FANOUT_IOV];
	ssize_t			 n, left;
	size_t			 want, len;
	const char		*nl;
	int			 i, k;

	len = evbuffer_get_length(s->out);
	if (s->unixmax > 0 && len > s->unixmax)
		len = s->unixmax;
	k = evbuffer_peek(s->out, (ev_ssize_t)len, NULL, v, FANOUT_IOV);
	if (k > FANOUT_IOV)
		k = FANOUT_IOV;
	for (i = 0, want = 0; i < k; i++) {
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = v[i].iov_len;
		if (want + iov[i].iov_len > len)
			iov[i].iov_len = len - want;
		want += iov[i].iov_len;
	}
	if (s->unixmax > 0 && want < evbuffer_get_length(s->out)) {
		/* Cut back to the last newline offered, if there is one. */
		for (i = k - 1; i >= 0; i--) {
			nl = memrchr(iov[i].iov_base, '\n', iov[i].iov_len);
			if (nl != NULL) {
				want -= iov[i].iov_len;
				iov[i].iov_len = nl - (char *)iov[i].iov_base +
				    1;
				want += iov[i].iov_len;
				k = i + 1;
				break;
			}
			want -= iov[i].iov_len;
		}
		if (i < 0)		/* one line longer than the limit */
			for (i = 0; i < k; i++)
				want += iov[i].iov_len;
	}
	*whole = false;
	if ((n = writev(s->fd, iov, k)) <= 0)
		return ((int)n);
	*whole = (size_t)n == want;
	for (i = 0, left = n; i < k && left > (ssize_t)iov[i].iov_len; i++)
		left -= iov[i].iov_len;
	s->midline = ((char *)iov[i].iov_base)[left - 1] != '\n';
	evbuffer_drain(s->out, (size_t)n);
	return ((int)n);
}

/*
 * Write what a subscriber has queued: once for a pollable descriptor
 * (the rest waits for EV_WRITE), everything for one that cannot be polled.
 */
static void
fanout_sub_try_write(struct sub *s)
{
	bool	whole, held;
	int	n;

	held = s->fo->narmed > 0 && fanout_sub_holds(s, 0, true);
	while (evbuffer_get_length(s->out) > 0) {
		n = fanout_sub_writev(s, &whole);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				if (s->idle_ms == 0)
					s->idle_ms = fanout_now_ms();
				event_add(s->wev, NULL);
				break;
			}
			fanout_sub_fail(s, -errno);
			return;
		}
		s->st.bytes += n;
		s->idle_ms = fanout_now_ms();
		/* Short of what was offered: the rest waits for EV_WRITE. */
		if (s->pollable && (!whole || s->unixmax == 0)) {
			if (evbuffer_get_length(s->out) > 0)
				event_add(s->wev, NULL);
			break;
		}
	}
	if (s->dropping && !s->holding &&
	    fanout_sub_queued(s) <= s->opts.lowat) {
		s->dropping = false;
		if (s->lost > 0)
			fanout_sub_report_lost(s);
	}
	if (evbuffer_get_length(s->out) == 0)
		s->idle_ms = 0;
	/* Held producers back, and no more: they may go on. */
	if (held && !fanout_sub_holds(s, 0, true))
		fanout_kick(s->fo);
	/* Held live events do not count: they wait for the snapshot. */
	if (s->want_drain && evbuffer_get_length(s->out) <= s->opts.lowat) {
		s->want_drain = false;
		s->drain(s, s->arg);
	}
	if (s->empty != NULL && s->failed == 0 && fanout_sub_queued(s) == 0) {
		sub_drain_cb	cb = s->empty;

		s->empty = NULL;
		cb(s, s->arg);
	}
}

/* End of a batch: queue pending ranges and start the writes. */
void
fanout_flush(struct fanout *fo)
{
	struct sub	*s;

	TAILQ_FOREACH(s, &fo->subs, entry) {
		if (s->failed != 0)
			continue;
		fanout_sub_queue_pending(s);
		if (evbuffer_get_length(s->out) > 0 &&
		    !event_pending(s->wev, EV_WRITE, NULL))
			fanout_sub_try_write(s);
	}
}

/* The descriptor is writable again. */
static void
fanout_sub_write(evutil_socket_t fd, short what, void *arg)
{
	struct sub	*s = arg;

	if (s->failed == 0)
		fanout_sub_try_write(s);
}

/*
 * Write everything queued for a subscriber, for shutdown; a pollable
 * descriptor gets what it takes without blocking.  Returns the bytes left.
 */
int
fanout_sub_drain(struct sub *s)
{
	bool	whole;
	int	n;

	fanout_sub_queue_pending(s);
	while (s->failed == 0 && evbuffer_get_length(s->out) > 0) {
		if ((n = fanout_sub_writev(s, &whole)) <= 0)
			break;
		s->st.bytes += n;
	}
	return ((int)evbuffer_get_length(s->out));
}

/*
 * At shutdown, when the reader took part of a line: wait up to ms for it
 * to take the rest of that line, so that the output ends on a line
 * boundary.  Returns the bytes left.
 */
size_t
fanout_sub_finish_line(struct sub *s, int ms)
{
	struct evbuffer_ptr	 p;
	struct pollfd		 pfd;
	struct timespec		 t0, t;
	size_t			 want;
	int			 n;

	if (!s->midline || s->failed != 0 ||
	    evbuffer_get_length(s->out) == 0)
		return (evbuffer_get_length(s->out));
	p = evbuffer_search(s->out, "\n", 1, NULL);
	want = p.pos < 0 ? evbuffer_get_length(s->out) : (size_t)p.pos + 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pfd.fd = s->fd;
	pfd.events = POLLOUT;
	while (want > 0) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		n = ms - (int)((t.tv_sec - t0.tv_sec) * 1000 +
		    (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (n <= 0 || poll(&pfd, 1, n) <= 0)
			break;
		if ((n = evbuffer_write_atmost(s->out, s->fd, want)) <= 0) {
			if (n == -1 && (errno == EAGAIN || errno == EINTR))
				continue;
			break;
		}
		s->st.bytes += n;
		want -= (size_t)n;
	}
	if (want == 0)
		s->midline = false;
	return (evbuffer_get_length(s->out));
}

/*
 * For a Unix stream socket, the most a write may hold to be queued as one
 * buffer (whole or not at all): under 32 KiB of page fragments and under
 * half the send buffer, as unix_stream_sendmsg() cuts.  0 for anything
 * else.
 */
static size_t
fanout_fd_unix_max(int fd)
{
	struct sockaddr_storage	ss;
	socklen_t		len = sizeof ss, ilen = sizeof(int);
	int			type, sndbuf;
	size_t			max = FANOUT_UNIX_WRITE;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1 ||
	    ss.ss_family != AF_UNIX ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &ilen) == -1 ||
	    type != SOCK_STREAM)
		return (0);
	ilen = sizeof sndbuf;
	/* The value read is the kernel's sk_sndbuf. */
	if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &ilen) == 0 &&
	    sndbuf / 2 - 64 < (int)max)
		max = sndbuf / 2 > 1088 ? (size_t)(sndbuf / 2 - 1088) : 0;
	return (max);
}

/* Tell whether writes to fd can wait for EV_WRITE (epoll refuses files). */
static bool
fanout_fd_pollable(int fd)
{
	struct stat	st;

	if (fstat(fd, &st) == -1)
		return (false);
	return (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || isatty(fd));
}

/*
 * Add a subscriber writing to fd (non-blocking if pollable; the caller
 * keeps owning fd).  It starts active, wanting every type and live kind.
 * fail is called, from the loop, when it can no longer be served.
 */
struct sub *
fanout_sub_new(struct fanout *fo, int fd, const struct sub_opts *opts,
    sub_fail_cb fail, void *arg)
{
	struct sub	*s;

	if ((s = calloc(1, sizeof *s)) == NULL)
		return (NULL);
	s->fo = fo;
	s->fd = fd;
	s->pollable = fanout_fd_pollable(fd);
	s->unixmax = fanout_fd_unix_max(fd);
	s->active = true;
	s->types = s->btypes = EV_TYPES_ALL;
	s->kinds = s->bkinds = EV_LIVE_KINDS;
	s->fail = fail;
	s->arg = arg;
	fanout_sub_set_opts(s, opts);
	s->out = evbuffer_new();
	s->held = evbuffer_new();
	s->wev = event_new(fo->base, fd, EV_WRITE, fanout_sub_write, s);
	if (s->out == NULL || s->held == NULL || s->wev == NULL) {
		if (s->out != NULL)
			evbuffer_free(s->out);
		if (s->held != NULL)
			evbuffer_free(s->held);
		if (s->wev != NULL)
			event_free(s->wev);
		free(s);
		return (NULL);
	}
	TAILQ_INSERT_TAIL(&fo->subs, s, entry);
	fo->nsubs++;
	return (s);
}

/* Remove and free a subscriber (its descriptor is the owner's); NULL ok. */
void
fanout_sub_free(struct sub *s)
{
	if (s == NULL)
		return;
	TAILQ_REMOVE(&s->fo->subs, s, entry);
	s->fo->nsubs--;
	fanout_stats_add(&s->fo->gone, &s->st);
	fanout_kick(s->fo);
	event_free(s->wev);
	evbuffer_free(s->out);		/* releases chunk references */
	evbuffer_free(s->held);
	filter_free(s->filter);
	free(s);
}

/* Start or stop sending events to a subscriber. */
void
fanout_sub_set_active(struct sub *s, bool active)
{
	s->active = active;
	if (!active)
		fanout_kick(s->fo);
}

/* Tell whether a subscriber receives events. */
bool
fanout_sub_active(const struct sub *s)
{
	return (s->active);
}

/*
 * Limit the event types and kinds a subscriber can receive (the daemon's
 * --types and --events); a filter narrows this further, never widens it.
 */
void
fanout_sub_set_match(struct sub *s, unsigned int types, unsigned int kinds)
{
	s->btypes = types;
	s->bkinds = kinds;
	fanout_sub_set_filter(s, s->filter);
}

/*
 * Give a subscriber a filter (it takes ownership; NULL means everything).
 * The filter's types and events, within the limit, become the
 * subscriber's quick masks.
 */
void
fanout_sub_set_filter(struct sub *s, struct filter *f)
{
	if (s->filter != f)
		filter_free(s->filter);
	s->filter = f;
	s->types = s->btypes & (f != NULL ? filter_types(f) : ~0U);
	s->kinds = s->bkinds & (f != NULL ? filter_kinds(f) : ~0U);
}

/* Return a subscriber's filter (NULL: everything). */
const struct filter *
fanout_sub_filter(const struct sub *s)
{
	return (s->filter);
}

/*
 * Start holding live events back (they count against the watermarks) while
 * the owner sends a snapshot with fanout_sub_send().
 */
void
fanout_sub_hold(struct sub *s)
{
	fanout_sub_queue_pending(s);
	s->holding = true;
}

/*
 * End a snapshot: queue the marker line, then every live event held back
 * meanwhile, in order.
 */
int
fanout_sub_release(struct sub *s, const char *marker, size_t len)
{
	int	error;

	fanout_sub_queue_pending(s);
	s->holding = false;
	if ((error = fanout_sub_send(s, marker, len)) != 0)
		return (error);
	if (evbuffer_add_buffer(s->out, s->held) == -1)
		return (-ENOMEM);
	fanout_sub_try_write(s);
	return (0);
}

/*
 * Ask for one call of the drain callback once the subscriber's output
 * queue (held live events aside) is at or below its low watermark (now,
 * if it already is).
 */
void
fanout_sub_want_drain(struct sub *s, sub_drain_cb cb)
{
	s->drain = cb;
	s->want_drain = true;
	if (evbuffer_get_length(s->out) <= s->opts.lowat) {
		s->want_drain = false;
		cb(s, s->arg);
	}
}

/*
 * Ask for one call of cb once everything queued for the subscriber has
 * been written.  Returns true, and calls nothing, if nothing is queued.
 */
bool
fanout_sub_want_empty(struct sub *s, sub_drain_cb cb)
{
	fanout_sub_queue_pending(s);
	if (fanout_sub_queued(s) == 0)
		return (true);
	s->empty = cb;
	if (evbuffer_get_length(s->out) > 0 &&
	    !event_pending(s->wev, EV_WRITE, NULL))
		event_add(s->wev, NULL);
	return (false);
}

/*
 * A subscriber that failed as too slow gets a last line instead of a cut
 * one: its queue is cut back to the rest of the line the reader has begun
 * (if any), then line is queued, and it receives nothing more.  It counts
 * as working again so that the writes go on; the owner closes it when
 * they are done (fanout_sub_want_empty) or when it gives up.
 * Returns 0 or -errno.
 */
int
fanout_sub_last_words(struct sub *s, const char *line, size_t len)
{
	struct evbuffer		*keep;
	struct evbuffer_ptr	 p;
	size_t			 n = 0;

	if (s->failed != SUB_FAIL_SLOW)
		return (-EINVAL);
	if ((keep = evbuffer_new()) == NULL)
		return (-ENOMEM);
	if (s->midline) {
		p = evbuffer_search(s->out, "\n", 1, NULL);
		n = p.pos < 0 ? evbuffer_get_length(s->out) : (size_t)p.pos + 1;
	}
	if (evbuffer_remove_buffer(s->out, keep, n) != (int)n ||
	    evbuffer_add(keep, line, len) == -1) {
		evbuffer_free(keep);
		return (-ENOMEM);
	}
	evbuffer_free(s->out);
	s->out = keep;
	evbuffer_drain(s->held, evbuffer_get_length(s->held));
	s->holding = false;
	s->dropping = false;
	s->want_drain = false;
	s->active = false;
	s->failed = 0;
	s->told = false;
	s->st.lines++;
	/*
	 * Written when the loop comes back, not now: the lines a callback
	 * sends (a dump's entries of one datagram, say) go in one writev.
	 */
	if (!event_pending(s->wev, EV_WRITE, NULL))
		event_active(s->wev, EV_WRITE, 0);
	return (0);
}

/* Change a subscriber's watermarks and policy. */
void
fanout_sub_set_opts(struct sub *s, const struct sub_opts *opts)
{
	s->opts = *opts;
	if (s->opts.lowat > s->opts.hiwat)
		s->opts.lowat = s->opts.hiwat;
}

/*
 * Queue a line for one subscriber only (a reply, a marker), after every
 * event already queued for it.  The line is copied.  Returns 0 or -errno.
 */
int
fanout_sub_send(struct sub *s, const char *line, size_t len)
{
	if (s->failed != 0)
		return (s->failed < 0 ? s->failed : -EPIPE);
	fanout_sub_queue_pending(s);
	if (evbuffer_add(s->out, line, len) == -1)
		return (-ENOMEM);
	s->st.lines++;
	/*
	 * Written when the loop comes back, not now: the lines a callback
	 * sends (a dump's entries of one datagram, say) go in one writev.
	 */
	if (!event_pending(s->wev, EV_WRITE, NULL))
		event_active(s->wev, EV_WRITE, 0);
	return (0);
}

/* Return a subscriber's counters. */
const struct sub_stats *
fanout_sub_stats(const struct sub *s)
{
	return (&s->st);
}

/* Return a subscriber's descriptor. */
int
fanout_sub_fd(const struct sub *s)
{
	return (s->fd);
}
