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
 *
 * The lines of a reconciliation are paced to the subscribers, which the
 * kernel's events are not: a resync after a large loss may have hundreds
 * of thousands of lines to say, far more than a subscriber's queue holds.
 * The dump pauses while the fan-out says a subscriber that keeps up has
 * half its high watermark queued (fanout_over(); who counts is decided
 * there), and resumes when they have drained.  The sweep waits until the
 * event socket has been read up to where it was when the dump ended, then
 * takes the vanished ids out of the index at once, and says them from the
 * loop, RESYNC_BATCH at a time, pausing the same way; an id that the
 * stream mentions again meanwhile (a recycled id) is not said.
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
#include "fanout.h"
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
#define RESYNC_BATCH	256		/* vanished lines per turn */
#define RESYNC_LOOK	64		/* added lines between looks */
#define RESYNC_CATCHUP_MS 10		/* looks at the event socket */

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
	struct fanout_waiter	*wait;		/* for the subscribers */
	unsigned int		 unpaced;	/* lines since the last look */
	struct event		*emit;		/* says the vanished */
	uint32_t		*vanished;	/* swept, not said yet */
	size_t			 nvanished, capvanished, said;
	bool			 saying;	/* the sweep is being said */
	bool			 sweep_due;	/* once the socket caught up */
	uint64_t		 mark;		/* of the socket, at the end */
	size_t			 swept;
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

/*
 * Every RESYNC_LOOK lines: start their writes, and pause the dump while a
 * subscriber that keeps up has too much queued.
 */
static void
resync_pace(struct resync *r)
{
	r->unpaced = 0;
	stream_flush(r->ctx->stream);
	if (r->job != NULL && fanout_over(r->ctx->fo)) {
		query_job_pause(r->job, true);
		fanout_waiter_arm(r->wait);
	}
}

/* The subscribers drained: go on with the dump, or with the sweep. */
static void
resync_resume(void *arg)
{
	struct resync	*r = arg;
	struct timeval	 tv = { 0, 0 };

	if (r->job != NULL)
		query_job_pause(r->job, false);
	if (r->saying)
		evtimer_add(r->emit, &tv);
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
	if (++r->unpaced >= RESYNC_LOOK)
		resync_pace(r);
}

/*
 * An entry vanished unseen: say so by its id, unless the stream has
 * mentioned the id again since the sweep (it was recycled: saying it
 * would destroy the new entry).
 */
static void
resync_vanished(struct resync *r, uint32_t id)
{
	struct event	 ev;

	if (track_has_id(r->t, id))
		return;
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

/* Sweep callback: keep a vanished id, to be said at the subscribers' pace. */
static void
resync_swept(void *arg, uint32_t id)
{
	struct resync	*r = arg;
	uint32_t	*p;
	size_t		 cap;

	if (r->nvanished == r->capvanished) {
		cap = r->capvanished ? r->capvanished * 2 : 1024;
		if ((p = reallocarray(r->vanished, cap, sizeof *p)) == NULL) {
			/* No memory to wait with: say it now. */
			resync_vanished(r, id);
			return;
		}
		r->vanished = p;
		r->capvanished = cap;
	}
	r->vanished[r->nvanished++] = id;
}

/*
 * After the dump: sweep, once the event socket has been read up to where
 * it was when the dump ended (an entry the dump lacks because it was
 * destroyed meanwhile has its destroy event queued there, and is not to
 * be said twice).  Then say the vanished entries, RESYNC_BATCH per turn
 * of the loop, pausing while a subscriber that keeps up has too much
 * queued; then the run is done.
 */
static void
resync_say(evutil_socket_t fd, short what, void *arg)
{
	struct resync	*r = arg;
	struct timeval	 tv = { 0, 0 };
	struct timeval	 wait = { 0, RESYNC_CATCHUP_MS * 1000 };
	size_t		 n;

	if (r->sweep_due) {
		if (!nlsrc_caught_up(r->mon->src, r->mark)) {
			evtimer_add(r->emit, &wait);
			return;
		}
		r->sweep_due = false;
		/* Out of the index now, said at the subscribers' pace. */
		r->swept = track_sweep(r->t, resync_swept, r);
	}
	if (r->said < r->nvanished && fanout_over(r->ctx->fo)) {
		fanout_waiter_arm(r->wait);
		return;
	}
	for (n = 0; n < RESYNC_BATCH && r->said < r->nvanished; n++)
		resync_vanished(r, r->vanished[r->said++]);
	stream_flush(r->ctx->stream);
	if (r->said < r->nvanished) {
		evtimer_add(r->emit, &tv);
		return;
	}
	r->saying = false;
	free(r->vanished);
	r->vanished = NULL;
	r->nvanished = r->capvanished = r->said = 0;
	r->st.runs++;
	log_info("%s: resync done: %llu entries added, %zu vanished",
	    r->mon->name, (unsigned long long)(r->st.added - r->st.last_added),
	    r->swept);
	if (r->pending)
		resync_schedule(r);
}

/* The dump ended: sweep what it did not show, and look at what is next. */
static void
resync_done(void *arg, int error)
{
	struct resync	*r = arg;
	struct timeval	 tv = { 0, 0 };

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
		r->mark = nlsrc_mark(r->mon->src);
		r->sweep_due = true;
		r->saying = true;
		evtimer_add(r->emit, &tv);
	}
	stream_flush(r->ctx->stream);
	r->startup = false;
	r->ngone = 0;
	r->gone_full = false;
	if (r->pending && !r->saying)
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

	if (r->job != NULL || r->saying || nlsrc_congested(r->mon->src)) {
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
	r->emit = evtimer_new(ctx->base, resync_say, r);
	r->wait = fanout_waiter_new(ctx->fo, resync_resume, r);
	if (r->t == NULL || r->timer == NULL || r->periodic == NULL ||
	    r->emit == NULL || r->wait == NULL) {
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
	if (r->emit != NULL)
		event_free(r->emit);
	fanout_waiter_free(r->wait);
	track_free(r->t);
	free(r->gone);
	free(r->vanished);
	free(r);
}

/* Return the counters, with the index's size filled in. */
const struct resync_stats *
resync_stats(struct resync *r)
{
	r->st.entries = track_count(r->t);
	r->st.old = track_old(r->t);
	r->st.index_bytes = track_bytes(r->t);
	r->st.running = r->job != NULL || r->saying;
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
