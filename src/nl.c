/*
 * nl.c - the ctnetlink event socket.
 *
 * One non-blocking NETLINK_NETFILTER socket per monitored namespace,
 * joined to the multicast groups of the event types wanted (the kernel
 * builds no message for a group nobody joined).  Each wakeup reads at most
 * NL_BUDGET datagrams with recvmmsg(2), so one busy namespace cannot
 * starve the rest of the loop; the socket stays readable and the loop
 * comes back.  Only datagrams from the kernel (port id 0) are used.
 *
 * ENOBUFS means the kernel dropped messages because the receive buffer
 * was full.  The exact count is the socket's drop counter (SO_MEMINFO,
 * SK_MEMINFO_DROPS), the same number /proc/net/netlink shows; the
 * difference since the last report is handed to the overrun callback.
 * The kernel raises ENOBUFS once per congestion, but may go on dropping
 * until the queue drains, so after an overrun the counter is read again
 * at the end of every wakeup until the queue has been emptied with no new
 * drops: every dropped message is reported, in the stream, eventually.
 * ENOBUFS is reported before the older messages still queued, so an
 * overrun line comes shortly before, not exactly at, the place of loss.
 *
 * Reliable mode (--reliable) sets NETLINK_BROADCAST_ERROR and
 * NETLINK_NO_ENOBUFS.  What Linux then does (net/netlink/af_netlink.c,
 * net/netfilter/nf_conntrack_ecache.c, nf_conntrack_core.c and
 * nf_conntrack_netlink.c, read for 6.x):
 *
 *   - A message that does not fit the receive buffer is still counted
 *     in the drop counter: netlink_overrun() counts it whatever the
 *     flags.  NO_ENOBUFS only stops the ENOBUFS error (and the congested
 *     state that would drop everything until it is read); BROADCAST_ERROR
 *     makes the broadcast fail, and ctnetlink hands that failure back to
 *     conntrack.
 *   - A conntrack DESTROY that failed so: nf_ct_delete() moves the entry
 *     to the namespace's dying list, and a kernel worker sends the
 *     DESTROY again (within a second, then every 10 ms while it fails)
 *     until a delivery succeeds.  A NEW or UPDATE that failed:
 *     its event bits are kept in the entry's event cache ("missed") and
 *     sent with the entry's next event, which may be its DESTROY; the
 *     change arrives late, merged into that message, not on its own.
 *   - Expectation events get none of that: ctnetlink ignores the result
 *     of their broadcast and nf_ct_expect_event_report() returns
 *     nothing.  A dropped expectation event is lost, and the drop counter
 *     is the only trace of it.
 *
 * So a socket in reliable mode carries the conntrack groups only
 * (nl_event_split() gives the expectation groups an ordinary socket of
 * their own), and a rise of its drop counter is deliveries the kernel
 * retries, not loss: it is counted as such, logged at most every
 * NL_RETRY_LOG_SECS, and neither reported as an overrun nor answered with
 * a resync.  (The kernel's one gap: when it cannot allocate the copy of a
 * message for a listener it serves before ours, ours is counted as
 * dropping it but the retry is asked for only if that listener is
 * reliable too.  That takes an atomic allocation failing.)
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/netfilter/nfnetlink.h>
#include <libmnl/libmnl.h>
#include <event2/event.h>

#include "log.h"
#include "netns.h"
#include "privsep.h"
#include "nl.h"

#define NL_SLOTS	32		/* datagrams per recvmmsg */
#define NL_SLOTLEN	8192		/* an event is far smaller */
#define NL_BUDGET	256		/* datagrams per wakeup */
#define NL_RETRY_LOG_SECS 10		/* least time between retry logs */

#define NL_CT_GROUPS	(1U << NFNLGRP_CONNTRACK_NEW | \
			 1U << NFNLGRP_CONNTRACK_UPDATE | \
			 1U << NFNLGRP_CONNTRACK_DESTROY)
#define NL_EXP_GROUPS	(1U << NFNLGRP_CONNTRACK_EXP_NEW | \
			 1U << NFNLGRP_CONNTRACK_EXP_UPDATE | \
			 1U << NFNLGRP_CONNTRACK_EXP_DESTROY)

#ifndef SO_MEMINFO
#define SO_MEMINFO	55
#endif

struct nlsrc {
	int			 fd;
	char			*name;
	struct event		*ev;
	const struct nlsrc_ops	*ops;
	void			*arg;
	struct nlsrc_stats	 st;
	uint64_t		 drops_seen;	/* kernel count last reported */
	bool			 congested;	/* recheck drops after reads */
	uint64_t		 emptied;	/* reads that found it empty */
	bool			 retrying;	/* reliable: in a run of drops */
	uint64_t		 retry_unlogged;
	struct event		*retry_log;	/* holds back the next log */
	struct nlsrc_opts	 opts;
	int			 psfd;		/* the helper's number for fd */
	int			 rcvbuf;	/* what we asked for last */
	bool			 growing;	/* the helper has a request */
	bool			 warned_max;
	bool			 warned_trunc;
	struct mmsghdr		 msgs[NL_SLOTS];
	struct iovec		 iov[NL_SLOTS];
	struct sockaddr_nl	 addrs[NL_SLOTS];
	char			*bufs;
};

/* The multicast groups for a set of types and live kinds. */
unsigned int
nl_groups(unsigned int types, unsigned int kinds)
{
	unsigned int	g = 0;

	if (types & EV_TYPE_BIT(EV_TYPE_CT)) {
		if (kinds & EV_KIND_BIT(EV_NEW))
			g |= 1U << NFNLGRP_CONNTRACK_NEW;
		if (kinds & EV_KIND_BIT(EV_UPDATE))
			g |= 1U << NFNLGRP_CONNTRACK_UPDATE;
		if (kinds & EV_KIND_BIT(EV_DESTROY))
			g |= 1U << NFNLGRP_CONNTRACK_DESTROY;
	}
	if (types & EV_TYPE_BIT(EV_TYPE_EXPECT)) {
		if (kinds & EV_KIND_BIT(EV_NEW))
			g |= 1U << NFNLGRP_CONNTRACK_EXP_NEW;
		if (kinds & EV_KIND_BIT(EV_UPDATE))
			g |= 1U << NFNLGRP_CONNTRACK_EXP_UPDATE;
		if (kinds & EV_KIND_BIT(EV_DESTROY))
			g |= 1U << NFNLGRP_CONNTRACK_EXP_DESTROY;
	}
	return (g);
}

/*
 * Plan the event sockets of a namespace from one set of options.  Without
 * reliable mode, one socket takes every group.  In reliable mode the
 * conntrack groups go to a reliable socket and the expectation groups,
 * which the kernel never retries, to an ordinary one: on a socket that
 * carried both, a drop could be either, retried or lost, and the kernel
 * does not say which.  With no conntrack group reliable mode protects
 * nothing, and the one socket is an ordinary one.  Returns how many
 * sockets: out[0] (the conntrack groups, or all), then out[1].
 */
int
nl_event_split(const struct nlsrc_opts *o, struct nlsrc_opts out[NL_EVSOCKS])
{
	out[0] = *o;
	if (!o->reliable)
		return (1);
	if ((o->groups & NL_CT_GROUPS) == 0) {
		out[0].reliable = false;
		return (1);
	}
	if ((o->groups & NL_EXP_GROUPS) == 0)
		return (1);
	out[0].groups = o->groups & ~NL_EXP_GROUPS;
	out[1] = *o;
	out[1].groups = o->groups & NL_EXP_GROUPS;
	out[1].reliable = false;
	return (2);
}

/* Read the kernel's count of messages dropped on this socket. */
int
nlsrc_kernel_drops(const struct nlsrc *s, uint64_t *drops)
{
	uint32_t	mi[SK_MEMINFO_VARS];
	socklen_t	len = sizeof mi;

	memset(mi, 0, sizeof mi);
	if (getsockopt(s->fd, SOL_SOCKET, SO_MEMINFO, mi, &len) == -1)
		return (-errno);
	if (len < (SK_MEMINFO_DROPS + 1) * sizeof(uint32_t))
		return (-ENOTSUP);
	*drops = mi[SK_MEMINFO_DROPS];
	return (0);
}

/* Return how far the kernel's drop counter went since the last look. */
static uint64_t
nlsrc_drops_since(struct nlsrc *s)
{
	uint64_t	drops, n;

	if (nlsrc_kernel_drops(s, &drops) != 0)
		return (0);
	/* The kernel counter is 32 bits wide: unwrap it. */
	n = (uint32_t)(drops - (uint32_t)s->drops_seen);
	s->drops_seen += n;
	return (n);
}

/* Return how many messages the kernel dropped since the last report. */
static uint64_t
nlsrc_new_drops(struct nlsrc *s)
{
	uint64_t	lost;

	lost = nlsrc_drops_since(s);
	s->st.drops += lost;
	return (lost);
}

/*
 * What came of asking for a receive buffer of n bytes with SO_RCVBUFFORCE
 * (error): on failure, SO_RCVBUF, which the kernel caps at
 * net.core.rmem_max, unless that would shrink the buffer; if that fails
 * too, the buffer stays as it is and grows no more.
 */
static void
nlsrc_rcvbuf_set(struct nlsrc *s, int n, int error)
{
	socklen_t	len = sizeof s->st.rcvbuf;

	if (error != 0 && (s->st.rcvbuf >= 2 * n || setsockopt(s->fd,
	    SOL_SOCKET, SO_RCVBUF, &n, sizeof n) == -1)) {
		errno = -error;
		log_warn("%s: cannot grow the receive buffer", s->name);
		s->opts.rcvbuf_max = s->rcvbuf;
		return;
	}
	s->rcvbuf = n;
	getsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &s->st.rcvbuf, &len);
	s->st.rcvbuf_grown++;
	log_notice("%s: receive buffer grown to %d bytes", s->name, n);
}

/* The helper's verdict on a receive buffer of n bytes. */
static void
nlsrc_rcvbuf_done(void *arg, uint32_t n, int error)
{
	struct nlsrc	*s = arg;

	s->growing = false;
	nlsrc_rcvbuf_set(s, (int)n, error);
}

/*
 * After an overrun: double the receive buffer, up to the maximum.  Once
 * the daemon has dropped its privileges the privileged helper forces the
 * size; the loop does not wait for it (see privsep.c), and a grow still
 * under way is not doubled again.
 */
static void
nlsrc_grow(struct nlsrc *s)
{
	int	n, error;

	if (s->growing)
		return;
	if (s->rcvbuf >= s->opts.rcvbuf_max) {
		if (!s->warned_max)
			log_warnx("%s: receive buffer at its maximum (%d "
			    "bytes, --rcvbuf-max): %s (this is logged once)",
			    s->name, s->opts.rcvbuf_max, s->opts.reliable ?
			    "the kernel will go on retrying deliveries" :
			    "overruns will go on losing events");
		s->warned_max = true;
		return;
	}
	n = s->rcvbuf > s->opts.rcvbuf_max / 2 ? s->opts.rcvbuf_max :
	    s->rcvbuf * 2;
	error = privsep_rcvbuf(s->psfd, s->fd, n, nlsrc_rcvbuf_done, s);
	if (error == PRIVSEP_QUEUED)
		s->growing = true;
	else
		nlsrc_rcvbuf_set(s, n, error);
}

/* Handle ENOBUFS: report how many messages the kernel dropped. */
static void
nlsrc_overrun(struct nlsrc *s)
{
	s->st.enobufs++;
	s->congested = true;
	s->ops->overrun(s->arg, s, nlsrc_new_drops(s));
	nlsrc_grow(s);
}

/* Log the retried deliveries not logged yet, at most every so often. */
static void
nlsrc_retry_log(struct nlsrc *s)
{
	struct timeval	tv = { NL_RETRY_LOG_SECS, 0 };

	if (s->retry_unlogged == 0 || evtimer_pending(s->retry_log, NULL))
		return;
	log_info("%s: %llu event deliveries failed on a full receive buffer "
	    "and are retried by the kernel (--reliable), %llu so far",
	    s->name, (unsigned long long)s->retry_unlogged,
	    (unsigned long long)s->st.retried);
	s->retry_unlogged = 0;
	evtimer_add(s->retry_log, &tv);
}

/* Timer: the quiet time after a retry log is over. */
static void
nlsrc_retry_timer(evutil_socket_t fd, short what, void *arg)
{
	nlsrc_retry_log(arg);
}

/*
 * Reliable mode, after the reads of a wakeup: what the drop counter
 * gained is deliveries the kernel retries (see the top of this file).
 * The first of a run grows the buffer, as an overrun does, so that the
 * kernel has to retry less; the run ends when the queue was emptied with
 * no new drop.
 */
static void
nlsrc_retried(struct nlsrc *s, bool empty)
{
	uint64_t	n;

	if ((n = nlsrc_drops_since(s)) > 0) {
		s->st.retried += n;
		s->retry_unlogged += n;
		if (!s->retrying)
			nlsrc_grow(s);
		s->retrying = true;
	} else if (empty)
		s->retrying = false;
	nlsrc_retry_log(s);
}

/* Hand every message of one datagram to the callback. */
static void
nlsrc_datagram(struct nlsrc *s, const char *buf, size_t len,
    const struct timespec *now)
{
	const struct nlmsghdr	*nlh = (const struct nlmsghdr *)buf;
	int			 left = (int)len;

	while (mnl_nlmsg_ok(nlh, left)) {
		if (nlh->nlmsg_type >= NLMSG_MIN_TYPE) {
			s->st.msgs++;
			s->ops->msg(s->arg, s, nlh, now);
		}
		nlh = mnl_nlmsg_next(nlh, &left);
	}
}

/* The socket is readable: read up to NL_BUDGET datagrams. */
static void
nlsrc_read(evutil_socket_t fd, short what, void *arg)
{
	struct nlsrc	*s = arg;
	struct timespec	 now;
	uint64_t	 lost;
	int		 i, n, want, budget = NL_BUDGET;
	bool		 empty = false;

	while (budget > 0) {
		for (i = 0; i < NL_SLOTS; i++) {
			s->msgs[i].msg_hdr.msg_namelen = sizeof s->addrs[i];
			s->msgs[i].msg_hdr.msg_flags = 0;
		}
		want = budget < NL_SLOTS ? budget : NL_SLOTS;
		n = recvmmsg(fd, s->msgs, want, MSG_DONTWAIT, NULL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				nlsrc_overrun(s);
				continue;
			}
			if (errno == EAGAIN)
				empty = true;
			else
				log_warn("%s: netlink receive", s->name);
			break;
		}
		clock_gettime(CLOCK_REALTIME, &now);
		for (i = 0; i < n; i++) {
			s->st.datagrams++;
			s->st.bytes += s->msgs[i].msg_len;
			if (s->addrs[i].nl_pid != 0) {
				s->st.foreign++;
				continue;
			}
			if (s->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
				s->st.truncated++;
				if (!s->warned_trunc)
					log_warnx("%s: a message longer than "
					    "%d bytes was cut and dropped (this "
					    "is logged once)", s->name,
					    NL_SLOTLEN);
				s->warned_trunc = true;
				continue;
			}
			nlsrc_datagram(s, s->iov[i].iov_base,
			    s->msgs[i].msg_len, &now);
		}
		budget -= n;
		if (n < want) {
			empty = true;	/* the queue ran dry */
			break;
		}
	}
	if (empty)
		s->emptied++;
	if (s->opts.reliable)
		nlsrc_retried(s, empty);
	else if (s->congested) {
		/* Drops after the ENOBUFS we read raise no new one. */
		if ((lost = nlsrc_new_drops(s)) > 0)
			s->ops->overrun(s->arg, s, lost);
		else if (empty)
			s->congested = false;
	}
	s->ops->batch_end(s->arg, s);
}

/*
 * Create an event socket in the current namespace: bound, joined to the
 * groups, with its receive buffer and reliability options.  This needs
 * CAP_NET_ADMIN; it runs at startup and in the privileged helper.
 * Returns 0 or -errno; *fdp is the socket.
 */
int
nl_event_socket(const struct nlsrc_opts *o, int *fdp)
{
	struct sockaddr_nl	 sa;
	int			 fd, g, one = 1, error;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    NETLINK_NETFILTER);
	if (fd == -1)
		return (-errno);
	memset(&sa, 0, sizeof sa);
	sa.nl_family = AF_NETLINK;
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == -1)
		goto fail;
	for (g = 1; g < 32; g++) {
		if ((o->groups & (1U << g)) == 0)
			continue;
		if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP,
		    &g, sizeof g) == -1)
			goto fail;
	}
	if (o->rcvbuf > 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &o->rcvbuf,
	    sizeof o->rcvbuf) == -1 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &o->rcvbuf,
	    sizeof o->rcvbuf) == -1)
		goto fail;
	if (o->reliable &&
	    (setsockopt(fd, SOL_NETLINK, NETLINK_BROADCAST_ERROR, &one,
	    sizeof one) == -1 ||
	    setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one,
	    sizeof one) == -1))
		goto fail;
	*fdp = fd;
	return (0);

fail:
	error = -errno;
	close(fd);
	return (error);
}

/*
 * Make an event source of a socket made by nl_event_socket() (it is
 * adopted, and closed with the source); name labels it in logs.
 * Returns 0 or -errno.
 *
 * In reliable mode (NETLINK_BROADCAST_ERROR with NETLINK_NO_ENOBUFS) the
 * kernel learns when a conntrack event could not be delivered and sends
 * it again later, instead of dropping it; the price is that a reader who
 * cannot keep up holds dying entries in the table.  No ENOBUFS ever comes
 * in this mode: the drop counter is read after every wakeup instead.
 */
int
nlsrc_open(struct nlsrc **sp, struct event_base *base, int fd,
    const char *name, const struct nlsrc_opts *opts,
    const struct nlsrc_ops *ops, void *arg)
{
	struct nlsrc	*s;
	socklen_t	 len;
	int		 i;

	if ((s = calloc(1, sizeof *s)) == NULL) {
		close(fd);
		return (-ENOMEM);
	}
	s->fd = fd;
	s->psfd = fd;
	s->ops = ops;
	s->arg = arg;
	s->opts = *opts;
	if (s->opts.rcvbuf_max < s->opts.rcvbuf)
		s->opts.rcvbuf_max = s->opts.rcvbuf;
	if ((s->name = strdup(name)) == NULL ||
	    (s->bufs = malloc((size_t)NL_SLOTS * NL_SLOTLEN)) == NULL) {
		nlsrc_free(s);
		return (-ENOMEM);
	}
	for (i = 0; i < NL_SLOTS; i++) {
		s->iov[i].iov_base = s->bufs + (size_t)i * NL_SLOTLEN;
		s->iov[i].iov_len = NL_SLOTLEN;
		s->msgs[i].msg_hdr.msg_iov = &s->iov[i];
		s->msgs[i].msg_hdr.msg_iovlen = 1;
		s->msgs[i].msg_hdr.msg_name = &s->addrs[i];
	}
	s->rcvbuf = s->opts.rcvbuf;
	len = sizeof s->st.rcvbuf;
	getsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &s->st.rcvbuf, &len);
	nlsrc_kernel_drops(s, &s->drops_seen);
	s->ev = event_new(base, s->fd, EV_READ | EV_PERSIST, nlsrc_read, s);
	s->retry_log = evtimer_new(base, nlsrc_retry_timer, s);
	if (s->ev == NULL || s->retry_log == NULL ||
	    event_add(s->ev, NULL) == -1) {
		nlsrc_free(s);
		return (-ENOMEM);
	}
	*sp = s;
	return (0);
}

/* Close and free a source; NULL is fine. */
void
nlsrc_free(struct nlsrc *s)
{
	if (s == NULL)
		return;
	privsep_cancel(s);
	if (s->ev != NULL)
		event_free(s->ev);
	if (s->retry_log != NULL)
		event_free(s->retry_log);
	if (s->fd != -1)
		close(s->fd);
	free(s->bufs);
	free(s->name);
	free(s);
}

/* Return the label of a source. */
const char *
nlsrc_name(const struct nlsrc *s)
{
	return (s->name);
}

/* Return the socket of a source. */
int
nlsrc_fd(const struct nlsrc *s)
{
	return (s->fd);
}

/* Change how far the receive buffer may grow (on reload). */
void
nlsrc_set_rcvbuf_max(struct nlsrc *s, int max)
{
	s->opts.rcvbuf_max = max < s->rcvbuf ? s->rcvbuf : max;
	s->warned_max = false;
}

/*
 * Tell whether the source is still catching up after an overrun, or, in
 * reliable mode, while the kernel retries deliveries: a dump now would
 * not show the entries whose DESTROY is still to come.
 */
bool
nlsrc_congested(const struct nlsrc *s)
{
	return (s->congested || s->retrying);
}

/*
 * A mark of how far the source has read, for nlsrc_caught_up(): how many
 * times a wakeup found the socket empty.
 */
uint64_t
nlsrc_mark(const struct nlsrc *s)
{
	return (s->emptied);
}

/*
 * Tell whether every message queued when mark was taken has been read:
 * a wakeup has found the socket empty since, or it holds nothing now
 * (SK_MEMINFO_RMEM_ALLOC; when that cannot be read, yes).
 */
bool
nlsrc_caught_up(const struct nlsrc *s, uint64_t mark)
{
	uint32_t	mi[SK_MEMINFO_VARS];
	socklen_t	len = sizeof mi;

	if (s->emptied != mark)
		return (true);
	memset(mi, 0, sizeof mi);
	if (getsockopt(s->fd, SOL_SOCKET, SO_MEMINFO, mi, &len) == -1 ||
	    len < (SK_MEMINFO_RMEM_ALLOC + 1) * sizeof(uint32_t))
		return (true);
	return (mi[SK_MEMINFO_RMEM_ALLOC] == 0);
}

/* Tell whether the source is in reliable mode (see the top). */
bool
nlsrc_reliable(const struct nlsrc *s)
{
	return (s->opts.reliable);
}

/* Return the counters of a source. */
const struct nlsrc_stats *
nlsrc_stats(const struct nlsrc *s)
{
	return (&s->st);
}

/* Set the privileged helper's number for the socket (if it made it). */
void
nlsrc_set_psfd(struct nlsrc *s, int psfd)
{
	s->psfd = psfd;
}

/* Return the privileged helper's number for the socket. */
int
nlsrc_psfd(const struct nlsrc *s)
{
	return (s->psfd);
}
