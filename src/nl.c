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
	struct nlsrc_opts	 opts;
	int			 psfd;		/* the helper's number for fd */
	int			 rcvbuf;	/* what we asked for last */
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

/* Return how many messages the kernel dropped since the last report. */
static uint64_t
nlsrc_new_drops(struct nlsrc *s)
{
	uint64_t	drops, lost;

	if (nlsrc_kernel_drops(s, &drops) != 0)
		return (0);
	/* The kernel counter is 32 bits wide: unwrap it. */
	lost = (uint32_t)(drops - (uint32_t)s->drops_seen);
	s->drops_seen += lost;
	s->st.drops += lost;
	return (lost);
}

/*
 * Ask for a receive buffer of n bytes: SO_RCVBUFFORCE (through the
 * privileged helper once the daemon has dropped its capabilities), else
 * SO_RCVBUF, which the kernel caps at net.core.rmem_max; that fallback is
 * not used when it would shrink the buffer.
 */
static int
nlsrc_set_rcvbuf(struct nlsrc *s, int n)
{
	socklen_t	len = sizeof s->st.rcvbuf;
	int		error;

	if ((error = privsep_rcvbuf(s->psfd, s->fd, n)) != 0) {
		if (s->st.rcvbuf >= 2 * n || setsockopt(s->fd, SOL_SOCKET,
		    SO_RCVBUF, &n, sizeof n) == -1)
			return (error);
	}
	s->rcvbuf = n;
	getsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &s->st.rcvbuf, &len);
	return (0);
}

/* After an overrun: double the receive buffer, up to the maximum. */
static void
nlsrc_grow(struct nlsrc *s)
{
	int	n;

	if (s->rcvbuf >= s->opts.rcvbuf_max) {
		if (!s->warned_max)
			log_warnx("%s: receive buffer at its maximum (%d "
			    "bytes, --rcvbuf-max): overruns will go on losing "
			    "events (this is logged once)", s->name,
			    s->opts.rcvbuf_max);
		s->warned_max = true;
		return;
	}
	n = s->rcvbuf > s->opts.rcvbuf_max / 2 ? s->opts.rcvbuf_max :
	    s->rcvbuf * 2;
	if (nlsrc_set_rcvbuf(s, n) != 0) {
		log_warn("%s: cannot grow the receive buffer", s->name);
		s->opts.rcvbuf_max = s->rcvbuf;
		return;
	}
	s->st.rcvbuf_grown++;
	log_notice("%s: receive buffer grown to %d bytes", s->name, n);
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
	if (s->congested || s->opts.reliable) {
		/*
		 * Drops after the ENOBUFS we read raise no new one, and in
		 * reliable mode none is raised at all.
		 */
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
 * kernel learns when a DESTROY event could not be delivered and keeps the
 * entry to deliver it again later, instead of dropping it; the price is
 * that a reader who cannot keep up holds dying entries in the table.
 * Messages of other kinds can still be dropped: the drop counter is read
 * after every wakeup in this mode, since no ENOBUFS ever says so.
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
	if (s->ev == NULL || event_add(s->ev, NULL) == -1) {
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
	if (s->ev != NULL)
		event_free(s->ev);
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

/* Tell whether the source is still catching up after an overrun. */
bool
nlsrc_congested(const struct nlsrc *s)
{
	return (s->congested);
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
