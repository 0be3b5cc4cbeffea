/*
 * resync.c - repair the subscribers' view after the kernel lost events.
 *
 * Every conntrack event the stream carries updates a lean index of live
 * entries (track.c): new and update add, destroy removes.  At startup the
 * table is dumped into the index silently, marking those entries "old".
 *
 * After an overrun, once the event socket has caught up and at most once
 * per delay, the table is dumped and reconciled: an entry the index lacks
 * is published as "event":"new" with "resync":true (from the dump, so
 * with everything the kernel knows), and an entry the index has but the
 * kernel does not is published as "event":"destroy" with "resync":true
 * and only its "id", the one thing the index keeps.  A subscriber that
 * applies the stream in order then holds exactly the kernel's table.
 *
 * Entries older than the daemon may send no DESTROY at all when the
 * kernel's nf_conntrack_events is 2 (no listener existed when they were
 * created, so they may lack the event extension; current kernels keep
 * that listener flag for the whole system, so it depends on every other
 * process too; and nft's "ct event set" can silence any entry).
 * While such entries remain, a reconciliation also runs every interval,
 * so that they, too, are destroyed visibly.
 *
 * During a reconciliation live events keep flowing: they update the index
 * (marking what they touch as seen), and ids destroyed meanwhile are
 * remembered so that a dump entry arriving after its own DESTROY event
 * does not bring it back.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "ctx.h"
#include "decode.h"
#include "filter.h"
#include "kfilter.h"
#include "log.h"
#include "mon.h"
#include "nl.h"
#include "query.h"
#include "resync.h"
#include "stream.h"
#include "track.h"

#define RESYNC_GONE_MAX	(1U << 20)	/* ids remembered during one run */

struct resync {
	struct ctx		*ctx;
	struct mon		*mon;
	struct track		*t;
	struct resync_opts	 opts;
	struct event		*timer;
	struct event		*periodic;
	struct qjob		*job;
	bool			 startup;	/* the first, silent dump */
	bool			 pending;	/* an overrun wants a run */
	long long		 last_ms;	/* when the last run started */
	uint32_t		*gone;		/* destroyed during a run */
	size_t			 ngone, capgone;
	bool			 gone_full;
	struct resync_stats	 st;
};

static void	resync_start(struct resync *, bool);

/* Milliseconds on the monotonic clock. */
static long long
resync_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Remember an id destroyed while a run is under way. */
static void
resync_gone_add(struct resync *r, uint32_t id)
{
	uint32_t	*p;
	size_t		 cap;

	if (r->ngone == r->capgone) {
		if (r->capgone >= RESYNC_GONE_MAX) {
			r->gone_full = true;
			return;
		}
		cap = r->capgone ? r->capgone * 2 : 256;
		if ((p = reallocarray(r->gone, cap, sizeof *p)) == NULL) {
			r->gone_full = true;
			return;
		}
		r->gone = p;
		r->capgone = cap;
	}
	r->gone[r->ngone++] = id;
}

/* Tell whether id was destroyed during the run under way. */
static bool
resync_gone_has(const struct resync *r, uint32_t id)
{
	size_t	i;

	for (i = 0; i < r->ngone; i++)
		if (r->gone[i] == id)
			return (true);
	return (false);
}

/* Stream observer: keep the index in step with every conntrack event. */
void
resync_observe(void *arg, const struct event *ev)
{
	struct resync	*r = arg;
	uint32_t	 id, tag;

	if (ev->type != EV_TYPE_CT || nfct_attr_is_set(ev->ct, ATTR_ID) <= 0)
		return;
	id = nfct_get_attr_u32(ev->ct, ATTR_ID);
	tag = track_tag(ev->ct, ev->family);
	if (ev->kind == EV_DESTROY) {
		track_del(r->t, id, tag);
		if (r->job != NULL && !r->startup)
			resync_gone_add(r, id);
		return;
	}
	if (track_put(r->t, id, tag, 0) != 0)
		r->st.errors++;
}

/* A dump entry: add it to the index, and report it if it was missing. */
static void
resync_msg(void *arg, const struct nlmsghdr *nlh)
{
	struct resync		*r = arg;
	struct filter_view	 view;
	struct event		 ev;
	uint32_t		 id, tag;

	if (decode_msg(r->ctx->qdec, nlh, &ev) != 0 || ev.type != EV_TYPE_CT ||
	    nfct_attr_is_set(ev.ct, ATTR_ID) <= 0)
		return;
	ev.netns = r->mon->name;
	ev.show_netns = r->ctx->multi;
	/* What the kernel filter keeps off the stream stays out. */
	filter_view(&ev, &view);
	if (!kfilter_match(r->ctx->kf, &view))
		return;
	id = nfct_get_attr_u32(ev.ct, ATTR_ID);
	tag = track_tag(ev.ct, ev.family);
	if (r->startup) {
		if (track_put(r->t, id, tag, TRACK_OLD) != 0)
			r->st.errors++;
		return;
	}
	if (track_mark(r->t, id, tag) || resync_gone_has(r, id))
		return;
	if (track_put(r->t, id, tag, 0) != 0)
		r->st.errors++;
	r->st.added++;
	/* Indexed either way; said only if --events asks for new. */
	if ((r->ctx->kinds & EV_KIND_BIT(EV_NEW)) == 0)
		return;
	ev.kind = EV_NEW;
	ev.resync = true;
	clock_gettime(CLOCK_REALTIME, &ev.time);
	stream_publish(r->ctx->stream, &ev);
}

/* Sweep callback: an entry vanished unseen; say so by its id. */
static void
resync_vanished(void *arg, uint32_t id)
{
	struct resync	*r = arg;
	struct event	 ev;

	r->st.removed++;
	if ((r->ctx->kinds & EV_KIND_BIT(EV_DESTROY)) == 0)
		return;
	memset(&ev, 0, sizeof ev);
	ev.type = EV_TYPE_CT;
	ev.kind = EV_DESTROY;
	ev.resync = true;
	ev.idonly = true;
	ev.ct_id = id;
	ev.netns = r->mon->name;
	ev.show_netns = r->ctx->multi;
	clock_gettime(CLOCK_REALTIME, &ev.time);
	stream_publish(r->ctx->stream, &ev);
}

/* The dump ended: sweep what it did not show, and look at what is next. */
static void
resync_done(void *arg, int error)
{
	struct resync	*r = arg;
	size_t		 n = 0;

	r->job = NULL;
	if (error != 0) {
		errno = -error;
		log_warn("%s: %s dump failed", r->mon->name,
		    r->startup ? "startup" : "resync");
		r->st.errors++;
	} else if (r->startup) {
		log_info("%s: %zu entries known at startup", r->mon->name,
		    track_count(r->t));
	} else if (r->gone_full) {
		/* Too much went by to trust the sweep: leave it to next time. */
		log_warnx("%s: resync skipped its sweep: too many entries "
		    "destroyed during the dump", r->mon->name);
		r->pending = true;
	} else {
		n = track_sweep(r->t, resync_vanished, r);
		r->st.runs++;
		log_info("%s: resync done: %llu entries added, %zu vanished",
		    r->mon->name,
		    (unsigned long long)(r->st.added - r->st.last_added), n);
	}
	stream_flush(r->ctx->stream);
	r->startup = false;
	r->ngone = 0;
	r->gone_full = false;
	if (r->pending)
		resync_schedule(r);
}

static const struct qjob_ops resync_ops = { resync_msg, resync_done };

/* Dump the table: silently at startup, reconciling otherwise. */
static void
resync_start(struct resync *r, bool startup)
{
	struct qdump	d;

	memset(&d, 0, sizeof d);
	d.table = QT_CT;
	r->startup = startup;
	r->pending = false;
	r->last_ms = resync_now_ms();
	r->st.last_added = r->st.added;
	if (!startup)
		track_unmark(r->t);
	if ((r->job = query_dump(r->mon->query, &d, &resync_ops, r)) == NULL) {
		log_warnx("%s: cannot start a resync dump", r->mon->name);
		r->st.errors++;
	}
}

/* Timer: run if the socket caught up and no run is under way. */
static void
resync_timer(evutil_socket_t fd, short what, void *arg)
{
	struct resync	*r = arg;

	if (r->job != NULL || nlsrc_congested(r->mon->src)) {
		resync_schedule(r);
		return;
	}
	resync_start(r, false);
}

/* Periodic: entries older than the daemon may die without a DESTROY. */
static void
resync_periodic(evutil_socket_t fd, short what, void *arg)
{
	struct resync	*r = arg;

	if (track_old(r->t) > 0 && r->mon->diag.events != 1) {
		r->pending = true;
		resync_schedule(r);
	}
}

/* Ask for a run, no sooner than the delay after the last one. */
void
resync_schedule(struct resync *r)
{
	struct timeval	tv;
	long long	wait;

	r->pending = true;
	if (evtimer_pending(r->timer, NULL))
		return;
	wait = r->last_ms + r->opts.delay_ms - resync_now_ms();
	if (wait < r->opts.delay_ms / 4)
		wait = r->opts.delay_ms / 4;
	tv.tv_sec = wait / 1000;
	tv.tv_usec = (wait % 1000) * 1000;
	evtimer_add(r->timer, &tv);
}

/* The kernel dropped events: reconcile once the socket has caught up. */
void
resync_overrun(struct resync *r)
{
	if (r != NULL)
		resync_schedule(r);
}

/*
 * Make the resync machinery for namespace mon and start the silent
 * startup dump.  The namespace's events go through resync_observe().
 */
struct resync *
resync_new(struct ctx *ctx, struct mon *mon, const struct resync_opts *opts)
{
	struct resync	*r;
	struct timeval	 tv;

	if ((r = calloc(1, sizeof *r)) == NULL)
		return (NULL);
	r->ctx = ctx;
	r->mon = mon;
	r->opts = *opts;
	r->t = track_new();
	r->timer = evtimer_new(ctx->base, resync_timer, r);
	r->periodic = event_new(ctx->base, -1, EV_PERSIST, resync_periodic,
	    r);
	if (r->t == NULL || r->timer == NULL || r->periodic == NULL) {
		resync_free(r);
		return (NULL);
	}
	if (opts->interval_s > 0) {
		tv.tv_sec = opts->interval_s;
		tv.tv_usec = 0;
		event_add(r->periodic, &tv);
	}
	resync_start(r, true);
	return (r);
}

/* Free the machinery; NULL is fine. */
void
resync_free(struct resync *r)
{
	if (r == NULL)
		return;
	if (r->job != NULL)
		query_job_cancel(r->job);
	if (r->timer != NULL)
		event_free(r->timer);
	if (r->periodic != NULL)
		event_free(r->periodic);
	track_free(r->t);
	free(r->gone);
	free(r);
}

/* Return the counters, with the index's size filled in. */
const struct resync_stats *
resync_stats(struct resync *r)
{
	r->st.entries = track_count(r->t);
	r->st.old = track_old(r->t);
	r->st.index_bytes = track_bytes(r->t);
	r->st.running = r->job != NULL;
	return (&r->st);
}

/* Change the delay and the interval (on reload). */
void
resync_set_opts(struct resync *r, const struct resync_opts *opts)
{
	struct timeval	tv;

	r->opts = *opts;
	event_del(r->periodic);
	if (opts->interval_s > 0) {
		tv.tv_sec = opts->interval_s;
		tv.tv_usec = 0;
		event_add(r->periodic, &tv);
	}
}
