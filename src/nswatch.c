/*
 * nswatch.c - follow the named network namespaces under /run/netns.
 *
 * An inotify watch on /run/netns (ip-netns(8)'s directory) reports
 * namespaces as they are added and deleted.  A deleted namespace that is
 * monitored (given by its name or by a path that leads to it) is reported
 * gone and its sockets closed (our sockets would otherwise keep it alive
 * for ever).  With --netns-all a new one is opened by the privileged
 * helper and monitored from then on.  ip netns add creates the file first
 * (with mode 0) and mounts the namespace on it right after, so a new name
 * that is not a namespace yet (or not readable yet) is tried again a few
 * times.
 */
#include "config.h"

#include <sys/inotify.h>
#include <sys/queue.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "compat.h"
#include "ctx.h"
#include "log.h"
#include "mon.h"
#include "netns.h"
#include "nswatch.h"
#include "opts.h"

#define NSWATCH_TRIES	40		/* of opening a new name */
#define NSWATCH_RETRY_MS 50

/* A new name being opened (by the helper, which answers later). */
struct nsretry {
	TAILQ_ENTRY(nsretry)	 entry;
	struct nswatch		*w;
	struct event		*ev;
	char			*name;
	int			 tries;
	bool			 opening;	/* the helper has it */
};

TAILQ_HEAD(nsretries, nsretry);

struct nswatch {
	struct ctx		*ctx;
	const struct options	*opts;
	int			 fd;
	struct event		*ev;
	bool			 follow;	/* --netns-all */
	struct nsretries	 retries;	/* being opened, or soon */
};

/* Stop opening a name: forget it, and any answer still to come. */
static void
nswatch_retry_free(struct nsretry *r)
{
	TAILQ_REMOVE(&r->w->retries, r, entry);
	if (r->opening)
		mon_appear_cancel(r);
	event_free(r->ev);
	free(r->name);
	free(r);
}

/* The helper tried to open a name: done, or try again soon. */
static void
nswatch_opened(void *arg, int error)
{
	struct nsretry	*r = arg;
	struct timeval	 tv = { 0, NSWATCH_RETRY_MS * 1000 };

	r->opening = false;
	if ((error == -ENOTSUP || error == -EACCES) &&
	    ++r->tries < NSWATCH_TRIES) {
		evtimer_add(r->ev, &tv);
		return;
	}
	if (error == -ENOTSUP || error == -EACCES)
		log_warnx("%s: %s/%s never became a network namespace",
		    r->name, NETNS_RUN_DIR, r->name);
	nswatch_retry_free(r);
}

/* Timer: try (again) to open a name that was not a namespace yet. */
static void
nswatch_retry(evutil_socket_t fd, short what, void *arg)
{
	struct nsretry	*r = arg;
	int		 error;

	if (mon_find_run(r->w->ctx, r->name) != NULL) {
		nswatch_retry_free(r);
		return;
	}
	if ((error = mon_appear(r->w->ctx, r->name, r->w->opts,
	    nswatch_opened, r)) != 0) {
		nswatch_opened(r, error);
		return;
	}
	r->opening = true;
}

/* Return the opening of name under way, or NULL. */
static struct nsretry *
nswatch_retry_find(struct nswatch *w, const char *name)
{
	struct nsretry	*r;

	TAILQ_FOREACH(r, &w->retries, entry)
		if (strcmp(r->name, name) == 0)
			return (r);
	return (NULL);
}

/* A name appeared: open it now, or soon. */
static void
nswatch_added(struct nswatch *w, const char *name)
{
	struct nsretry	*r;

	if (!w->follow || mon_find_run(w->ctx, name) != NULL ||
	    nswatch_retry_find(w, name) != NULL)
		return;
	if ((r = calloc(1, sizeof *r)) == NULL ||
	    (r->name = strdup(name)) == NULL ||
	    (r->ev = evtimer_new(w->ctx->base, nswatch_retry, r)) == NULL) {
		if (r != NULL)
			free(r->name);
		free(r);
		log_warnx("%s: out of memory, not monitored", name);
		return;
	}
	r->w = w;
	TAILQ_INSERT_TAIL(&w->retries, r, entry);
	nswatch_retry(-1, 0, r);
}

/*
 * A name went away: if it was monitored, it is gone; if it was being
 * opened, it is not to be (what the helper may still open is closed).
 */
static void
nswatch_removed(struct nswatch *w, const char *name)
{
	struct mon	*m;
	struct nsretry	*r;

	if ((r = nswatch_retry_find(w, name)) != NULL)
		nswatch_retry_free(r);
	if ((m = mon_find_run(w->ctx, name)) != NULL)
		mon_gone(m);
}

/* inotify has news about /run/netns. */
static void
nswatch_read(evutil_socket_t fd, short what, void *arg)
{
	struct nswatch			*w = arg;
	char				 buf[16384];
	const struct inotify_event	*ie;
	ssize_t				 n;
	char				*p;

	while ((n = read(fd, buf, sizeof buf)) > 0) {
		for (p = buf; p < buf + n; p += sizeof *ie + ie->len) {
			ie = (const struct inotify_event *)p;
			if (ie->mask & IN_Q_OVERFLOW)
				log_warnx("%s: too many namespace changes at "
				    "once: some may have been missed",
				    NETNS_RUN_DIR);
			if (ie->len == 0 || ie->name[0] == '.')
				continue;
			if (ie->mask & (IN_CREATE | IN_MOVED_TO))
				nswatch_added(w, ie->name);
			if (ie->mask & (IN_DELETE | IN_MOVED_FROM))
				nswatch_removed(w, ie->name);
		}
	}
}

/*
 * Watch /run/netns (creating it if needed).  follow: open new namespaces
 * as they appear.  Returns NULL on failure.
 */
struct nswatch *
nswatch_new(struct ctx *ctx, const struct options *o, bool follow)
{
	struct nswatch	*w;

	if ((w = calloc(1, sizeof *w)) == NULL)
		return (NULL);
	w->ctx = ctx;
	w->opts = o;
	w->follow = follow;
	w->fd = -1;
	TAILQ_INIT(&w->retries);
	if (mkdir(NETNS_RUN_DIR, 0755) == -1 && errno != EEXIST)
		log_warn("cannot create %s", NETNS_RUN_DIR);
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd == -1 || inotify_add_watch(w->fd, NETNS_RUN_DIR, IN_CREATE |
	    IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_ONLYDIR) == -1) {
		log_warn("cannot watch %s", NETNS_RUN_DIR);
		nswatch_free(w);
		return (NULL);
	}
	w->ev = event_new(ctx->base, w->fd, EV_READ | EV_PERSIST, nswatch_read,
	    w);
	if (w->ev == NULL || event_add(w->ev, NULL) == -1) {
		nswatch_free(w);
		return (NULL);
	}
	return (w);
}

/* Stop watching, and opening names; NULL is fine. */
void
nswatch_free(struct nswatch *w)
{
	struct nsretry	*r;

	if (w == NULL)
		return;
	while ((r = TAILQ_FIRST(&w->retries)) != NULL)
		nswatch_retry_free(r);
	if (w->ev != NULL)
		event_free(w->ev);
	if (w->fd != -1)
		close(w->fd);
	free(w);
}

/*
 * Call fn for every name under /run/netns now (for --netns-all at
 * startup).  Returns how many there were.
 */
int
nswatch_list(void (*fn)(void *, const char *), void *arg)
{
	DIR		*d;
	struct dirent	*e;
	int		 n = 0;

	if ((d = opendir(NETNS_RUN_DIR)) == NULL)
		return (0);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		fn(arg, e->d_name);
		n++;
	}
	closedir(d);
	return (n);
}
