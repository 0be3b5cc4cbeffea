/*
 * mon.c - a monitored network namespace.
 *
 * For each namespace the daemon holds an event socket (nl.c), two in
 * reliable mode when it receives both conntrack and expectation events
 * (see nl_event_split()), a pool of request sockets (query.c), the
 * live-entry index and its resync (resync.c) and the startup diagnosis.
 * All are opened while the daemon still has its privileges; the namespace
 * is entered only for that.
 * When more than one namespace is monitored, every line carries
 * "netns":NAME; with one, it carries none, so the single-namespace schema
 * does not change.
 *
 * Two event sockets are read in separate wakeups, so a conntrack event
 * and an expectation event may be written in another order than the
 * kernel sent them; the events of each socket keep their order.
 */
#include "config.h"

#include <sys/queue.h>

#include <errno.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compat.h"
#include "ctx.h"
#include "diag.h"
#include "event.h"
#include "kfilter.h"
#include "log.h"
#include "mon.h"
#include "netns.h"
#include "nl.h"
#include "opts.h"
#include "privsep.h"
#include "query.h"
#include "resync.h"
#include "stream.h"

/* A namespace the privileged helper is opening (--netns-all). */
struct mon_opening {
	TAILQ_ENTRY(mon_opening)	 entry;
	struct ctx			*ctx;
	const struct options		*opts;
	char				*name;
	char				 path[PATH_MAX];
	dev_t				 dev;
	ino_t				 ino;
	mon_appear_cb			 cb;
	void				*arg;
};

TAILQ_HEAD(mon_openings, mon_opening);

static struct mon_openings	mon_openings =
    TAILQ_HEAD_INITIALIZER(mon_openings);

/* Write the names of the bits set in mask, comma-separated, into buf. */
static const char *
mon_format_list(char *buf, size_t len, unsigned int mask,
    const char *(*name)(unsigned int))
{
	unsigned int	bit;
	size_t		off = 0;

	buf[0] = '\0';
	for (bit = 0; bit < 32; bit++) {
		if ((mask & (1U << bit)) == 0)
			continue;
		off += snprintf(buf + off, len - off, "%s%s", off ? "," : "",
		    name(bit));
		if (off >= len)
			break;
	}
	return (buf);
}

/* Event source callback: one message. */
static void
mon_nl_msg(void *arg, struct nlsrc *src, const struct nlmsghdr *nlh,
    const struct timespec *when)
{
	struct mon	*m = arg;

	stream_msg(m->ctx->stream, m->name, m->ctx->multi, nlh, when,
	    m->resync != NULL ? resync_observe : NULL, m->resync);
}

/* Event source callback: the kernel dropped messages. */
static void
mon_nl_overrun(void *arg, struct nlsrc *src, uint64_t lost)
{
	struct mon	*m = arg;

	log_warnx("%s: event socket overrun: the kernel dropped %llu "
	    "messages", nlsrc_name(src), (unsigned long long)lost);
	stream_overrun(m->ctx->stream, mon_line_name(m), lost);
	/* A resync mends conntrack entries; lost expectations it cannot. */
	if (src != m->xsrc)
		resync_overrun(m->resync);
}

/* Event source callback: end of a batch. */
static void
mon_nl_batch_end(void *arg, struct nlsrc *src)
{
	struct mon	*m = arg;

	stream_flush(m->ctx->stream);
}

static const struct nlsrc_ops mon_nl_ops = {
	mon_nl_msg,
	mon_nl_overrun,
	mon_nl_batch_end,
};

/* Set one sysctl asked for in the namespace we are in. */
static void
mon_sysctl(const char *name, bool want, const char *key, int value)
{
	int	error;

	if (!want)
		return;
	if ((error = diag_sysctl_set(key, value)) != 0) {
		errno = -error;
		log_warn("%s: cannot set %s, ignoring", name, key);
	}
}

/* What mon_make() is to set up, from the settings. */
void
mon_make_opts(const struct options *o, struct mon_make *mk)
{
	memset(mk, 0, sizeof *mk);
	mk->groups = nl_groups(o->types, o->kinds);
	mk->rcvbuf = (int)o->rcvbuf;
	mk->reliable = o->reliable;
	mk->set_events = o->set_events_sysctl;
	mk->acct = o->enable_acct;
	mk->timestamp = o->enable_timestamp;
}

/*
 * The privileged part of opening a namespace (path NULL: ours): its event
 * sockets and request sockets (joining the event groups also loads
 * ctnetlink where it is a module), the sysctls asked for, and the
 * diagnosis.  Runs at startup and, for namespaces that appear later, in
 * the privileged helper.  Returns 0 or -errno with a message in err.
 */
int
mon_make(const char *path, const struct mon_make *mk, struct mon_fds *out,
    char *err, size_t errlen)
{
	struct nlsrc_opts	 nopts, split[NL_EVSOCKS];
	int			 nsfd = -1, self = -1, error, i, n;

	memset(out, 0, sizeof *out);
	out->ev = -1;
	out->xev = -1;
	for (i = 0; i < QUERY_SOCKETS_DEFAULT; i++)
		out->q[i] = -1;
	if (path != NULL) {
		if ((nsfd = netns_open(path)) < 0) {
			snprintf(err, errlen, nsfd == -ENOTSUP ? "%s is not a "
			    "network namespace" : "cannot open %s: %s", path,
			    strerror(-nsfd));
			return (nsfd);
		}
		if ((self = netns_enter(nsfd)) < 0) {
			snprintf(err, errlen, "cannot enter %s: %s%s", path,
			    strerror(-self), self == -EPERM ? " (CAP_SYS_ADMIN "
			    "is needed)" : "");
			close(nsfd);
			return (self);
		}
	}
	memset(&nopts, 0, sizeof nopts);
	nopts.groups = mk->groups;
	nopts.rcvbuf = mk->rcvbuf;
	nopts.reliable = mk->reliable;
	n = nl_event_split(&nopts, split);
	error = nl_event_socket(&split[0], &out->ev);
	if (error == 0 && n > 1)
		error = nl_event_socket(&split[1], &out->xev);
	for (i = 0; i < QUERY_SOCKETS_DEFAULT && error == 0; i++)
		error = query_socket(&out->q[i]);
	if (error != 0)
		snprintf(err, errlen, "%s", error == -EPERM ? "cannot subscribe "
		    "to conntrack events (CAP_NET_ADMIN is needed)" :
		    "cannot open the conntrack sockets");
	if (error == 0) {
		mon_sysctl(path ? path : MON_HOST, mk->set_events, DIAG_EVENTS,
		    1);
		mon_sysctl(path ? path : MON_HOST, mk->acct, DIAG_ACCT, 1);
		mon_sysctl(path ? path : MON_HOST, mk->timestamp,
		    DIAG_TIMESTAMP, 1);
		diag_collect(&out->diag);
	}
	if (self != -1 && netns_leave(self) != 0)
		fatal("cannot return to the initial network namespace");
	if (nsfd != -1)
		close(nsfd);
	if (error != 0) {
		if (out->ev != -1)
			close(out->ev);
		if (out->xev != -1)
			close(out->xev);
		for (i = 0; i < QUERY_SOCKETS_DEFAULT; i++)
			if (out->q[i] != -1)
				close(out->q[i]);
	}
	return (error);
}

/*
 * The unprivileged part: take the sockets made by mon_make() and set up
 * the event source, the request pool, the kernel filter and the index.
 */
int
mon_attach(struct ctx *ctx, const char *name, const char *path,
    struct mon_fds *fds, const int *psfds, const struct options *o,
    struct mon **mp)
{
	struct nlsrc_opts	 nopts, split[NL_EVSOCKS];
	struct resync_opts	 ro;
	struct mon		*m;
	char			 types[64], kinds[64], run[PATH_MAX];
	char			 xname[PATH_MAX + 32];
	const char		*mode;
	int			 error, n;

	if ((m = calloc(1, sizeof *m)) == NULL ||
	    (m->name = strdup(name)) == NULL ||
	    (path != NULL && (m->path = strdup(path)) == NULL) ||
	    (path != NULL && netns_run_name(path, run, sizeof run) == 0 &&
	    (m->run_name = strdup(run)) == NULL))
		fatalx("out of memory");
	m->ctx = ctx;
	m->diag = fds->diag;
	nopts.groups = nl_groups(o->types, o->kinds);
	nopts.rcvbuf = (int)o->rcvbuf;
	nopts.rcvbuf_max = (int)o->rcvbuf_max;
	nopts.reliable = o->reliable;
	/* mon_make() split the same options: the sockets are as planned. */
	if (((n = nl_event_split(&nopts, split)) > 1) != (fds->xev != -1))
		fatalx("%s: event sockets not as planned", m->name);
	snprintf(xname, sizeof xname, "%s (expectations)", m->name);
	if ((error = nlsrc_open(&m->src, ctx->base, fds->ev, m->name,
	    &split[0], &mon_nl_ops, m)) != 0 ||
	    (n > 1 && (error = nlsrc_open(&m->xsrc, ctx->base, fds->xev,
	    xname, &split[1], &mon_nl_ops, m)) != 0) ||
	    (error = query_open(&m->query, ctx->base, fds->q, m->name,
	    QUERY_SOCKETS_DEFAULT)) != 0)
		fatalx("%s: cannot set up its sockets: %s", m->name,
		    strerror(-error));
	if (psfds != NULL) {
		/* Made by the helper: it knows them by its own numbers. */
		nlsrc_set_psfd(m->src, psfds[MON_FD_EV]);
		if (m->xsrc != NULL)
			nlsrc_set_psfd(m->xsrc, psfds[MON_FD_XEV]);
		query_set_psfds(m->query, psfds + MON_FD_Q);
	}
	if (ctx->kf != NULL &&
	    (error = kfilter_attach(ctx->kf, nlsrc_fd(m->src))) != 0) {
		errno = -error;
		log_warn("%s: cannot attach the kernel filter (%d BPF "
		    "instructions%s)", m->name, kfilter_length(ctx->kf),
		    error == -ENOMEM ? ", more than net.core.optmem_max "
		    "allows" : "");
		mon_free(m);
		return (error);
	}
	diag_log(&m->diag, m->name);
	/* Conntrack entries only: without them there is nothing to track. */
	if (!o->no_track && (o->types & EV_TYPE_BIT(EV_TYPE_CT)) != 0) {
		ro.delay_ms = (long long)o->resync_delay;
		ro.interval_s = (long)o->resync_interval;
		if ((m->resync = resync_new(ctx, m, &ro)) == NULL)
			fatalx("out of memory");
	}
	if (m->xsrc != NULL)
		mode = ", reliable (expectations on a socket of their own)";
	else
		mode = nlsrc_reliable(m->src) ? ", reliable" : "";
	log_info("monitoring %s: types %s, events %s, receive buffer %d "
	    "bytes%s%s", m->name,
	    mon_format_list(types, sizeof types, o->types, event_type_name),
	    mon_format_list(kinds, sizeof kinds, o->kinds, event_kind_name),
	    nlsrc_stats(m->src)->rcvbuf, mode,
	    ctx->kf != NULL ? ", kernel filter" : "");
	*mp = m;
	return (0);
}

/*
 * Open namespace spec ("host", a name under /run/netns or a path) at
 * startup, while the daemon still has its privileges.  Returns 0, or
 * -errno with a message in err: -EEXIST for a namespace already
 * monitored (under whatever label).
 */
int
mon_open(struct ctx *ctx, const char *spec, const struct options *o,
    struct mon **mp, char *err, size_t errlen)
{
	struct mon_make	 mk;
	struct mon_fds	 fds;
	struct mon	*other;
	char		 path[PATH_MAX];
	bool		 own = strcmp(spec, MON_HOST) == 0;
	dev_t		 dev = 0;
	ino_t		 ino = 0;
	int		 error;

	if (!own && netns_resolve(spec, path, sizeof path) != 0) {
		snprintf(err, errlen, "invalid namespace name");
		return (-EINVAL);
	}
	/* If this fails, mon_make() says why. */
	if (netns_ident(own ? NULL : path, &dev, &ino) == 0 &&
	    (other = mon_find_ns(ctx, dev, ino)) != NULL) {
		snprintf(err, errlen, "the same namespace as '%s'",
		    other->name);
		return (-EEXIST);
	}
	mon_make_opts(o, &mk);
	if ((error = mon_make(own ? NULL : path, &mk, &fds, err,
	    errlen)) != 0)
		return (error);
	if ((error = mon_attach(ctx, spec, own ? NULL : path, &fds, NULL, o,
	    mp)) != 0) {
		snprintf(err, errlen, "cannot set up");
		return (error);
	}
	(*mp)->ns_dev = dev;
	(*mp)->ns_ino = ino;
	return (0);
}

/* Close a namespace's sockets and free it; NULL is fine. */
void
mon_free(struct mon *m)
{
	if (m == NULL)
		return;
	resync_free(m->resync);
	nlsrc_free(m->src);
	nlsrc_free(m->xsrc);
	if (m->query != NULL)
		query_free(m->query);
	free(m->run_name);
	free(m->path);
	free(m->name);
	free(m);
}

/* Find a monitored namespace by name. */
struct mon *
mon_find(struct ctx *ctx, const char *name)
{
	struct mon	*m;

	TAILQ_FOREACH(m, &ctx->mons, entry)
		if (strcmp(m->name, name) == 0)
			return (m);
	return (NULL);
}

/* Find the monitored namespace that is /run/netns/NAME. */
struct mon *
mon_find_run(struct ctx *ctx, const char *name)
{
	struct mon	*m;

	TAILQ_FOREACH(m, &ctx->mons, entry)
		if (m->run_name != NULL && strcmp(m->run_name, name) == 0)
			return (m);
	return (NULL);
}

/* Find a monitored namespace by its nsfs device and inode. */
struct mon *
mon_find_ns(struct ctx *ctx, dev_t dev, ino_t ino)
{
	struct mon	*m;

	TAILQ_FOREACH(m, &ctx->mons, entry)
		if (m->ns_ino != 0 && m->ns_dev == dev && m->ns_ino == ino)
			return (m);
	return (NULL);
}

/* The "netns" lines of this namespace carry: NULL with only one. */
const char *
mon_line_name(const struct mon *m)
{
	return (m->ctx->multi ? m->name : NULL);
}

/*
 * The namespace went away: say so in the stream, close its event socket,
 * end every request on it (answering -ENODEV), and forget it.
 */
void
mon_gone(struct mon *m)
{
	struct ctx	*ctx = m->ctx;

	log_notice("%s: the namespace is gone; its sockets are closed",
	    m->name);
	stream_netns(ctx->stream, m->name, "gone");
	resync_free(m->resync);
	m->resync = NULL;
	/* The helper's copies too, or the namespace would live on. */
	privsep_close(nlsrc_psfd(m->src));
	nlsrc_free(m->src);
	m->src = NULL;
	if (m->xsrc != NULL) {
		privsep_close(nlsrc_psfd(m->xsrc));
		nlsrc_free(m->xsrc);
		m->xsrc = NULL;
	}
	/* Callbacks may still look at the list: m leaves it only after. */
	query_shutdown(m->query, -ENODEV);
	m->query = NULL;
	TAILQ_REMOVE(&ctx->mons, m, entry);
	ctx->nmons--;
	mon_free(m);
}

/* Free the record of an opening. */
static void
mon_opening_free(struct mon_opening *op)
{
	free(op->name);
	free(op);
}

/*
 * The helper answered an opening: set the namespace up (unless it was
 * opened meanwhile, under this name or another) and tell whoever asked.
 */
static void
mon_opened(void *arg, int error, struct mon_fds *fds, const int *psfds,
    const char *err)
{
	struct mon_opening	*op = arg;
	struct ctx		*ctx = op->ctx;
	struct mon		*m;
	int			 i;

	TAILQ_REMOVE(&mon_openings, op, entry);
	if (error == 0 && (mon_find_run(ctx, op->name) != NULL ||
	    (m = mon_find_ns(ctx, op->dev, op->ino)) != NULL)) {
		privsep_discard(fds, psfds);
		error = -EEXIST;
	} else if (error == 0) {
		if ((error = mon_attach(ctx, op->name, op->path, fds, psfds,
		    op->opts, &m)) == 0) {
			m->ns_dev = op->dev;
			m->ns_ino = op->ino;
			TAILQ_INSERT_TAIL(&ctx->mons, m, entry);
			ctx->nmons++;
			stream_netns(ctx->stream, m->name, "new");
		} else {
			/* Ours are closed; the helper's copies too. */
			for (i = 0; i < MON_NFDS; i++)
				privsep_close(psfds[i]);
		}
	} else if (error != -ENOTSUP && error != -ENOENT && error != -EACCES)
		log_warnx("%s: cannot monitor: %s", op->name, err);
	if (op->cb != NULL)
		op->cb(op->arg, error);
	mon_opening_free(op);
}

/*
 * A namespace appeared after startup (--netns-all): have the privileged
 * helper make its sockets, without waiting for it (it may be busy with a
 * request that waits for the ctnetlink mutex).  When they come the
 * namespace is set up and cb gets arg and 0, or -ENOTSUP when the name is
 * not (yet) a namespace, -EEXIST when it is one already monitored (under
 * another name), or another -errno.  Returns 0, or one of those at once
 * (and then cb is not called).
 */
int
mon_appear(struct ctx *ctx, const char *name, const struct options *o,
    mon_appear_cb cb, void *arg)
{
	struct mon_opening	*op;
	struct mon_make		 mk;
	struct mon		*m;
	int			 error;

	if ((op = calloc(1, sizeof *op)) == NULL ||
	    (op->name = strdup(name)) == NULL) {
		free(op);
		return (-ENOMEM);
	}
	if (netns_resolve(name, op->path, sizeof op->path) != 0) {
		mon_opening_free(op);
		return (-EINVAL);
	}
	if ((error = netns_ident(op->path, &op->dev, &op->ino)) != 0) {
		mon_opening_free(op);
		return (error);
	}
	if ((m = mon_find_ns(ctx, op->dev, op->ino)) != NULL) {
		log_notice("%s: not monitored: the same namespace as '%s'",
		    name, m->name);
		mon_opening_free(op);
		return (-EEXIST);
	}
	op->ctx = ctx;
	op->opts = o;
	op->cb = cb;
	op->arg = arg;
	mon_make_opts(o, &mk);
	if ((error = privsep_open(op->path, &mk, mon_opened, op)) < 0) {
		errno = -error;
		log_warn("%s: cannot monitor", name);
		mon_opening_free(op);
		return (error);
	}
	TAILQ_INSERT_TAIL(&mon_openings, op, entry);
	return (0);
}

/*
 * Whoever called mon_appear() with arg goes away: its openings call
 * nobody, and sockets that still come are closed.
 */
void
mon_appear_cancel(const void *arg)
{
	struct mon_opening	*op, *next;

	TAILQ_FOREACH_SAFE(op, &mon_openings, entry, next) {
		if (op->arg != arg)
			continue;
		TAILQ_REMOVE(&mon_openings, op, entry);
		privsep_cancel(op);
		mon_opening_free(op);
	}
}
